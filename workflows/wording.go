package workflows

import (
	"fmt"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// What the payee's page shows, in one place. Every message a payee can read is Chinese.

// Reasons a run ends without paying, besides those of the activities (三流合一, risk).
var (
	reasonCheckUnavailable = Reason{Code: "CHECK_UNAVAILABLE", Message: "暂时无法完成收款资格校验，请稍后再试"}
	reasonOrderNotFound    = Reason{Code: "ORDER_NOT_FOUND", Message: "订单不存在"}
	reasonFaceExpired      = Reason{Code: "FACE_EXPIRED", Message: "人脸核验已超时，请重新发起收款"}
	reasonReviewExpired    = Reason{Code: "REVIEW_EXPIRED", Message: "人工审核超时，请联系付款企业"}
	reasonReviewRejected   = Reason{Code: "REVIEW_REJECTED", Message: "人工审核未通过，请联系付款企业"}
	reasonConfirmExpired   = Reason{Code: "CONFIRM_EXPIRED", Message: "确认收款已超时，请联系付款企业重新发起"}
	reasonPrepareFailed    = Reason{Code: "PAYOUT_PREPARE_FAILED", Message: "付款准备失败，请稍后再试"}
)

// cancelledReason names who cancelled by role — the payer or the platform — never a person.
func cancelledReason(role string) Reason {
	if role == RolePayer {
		return Reason{Code: "CANCELLED", Message: "付款方已取消本笔款项"}
	}
	return Reason{Code: "CANCELLED", Message: "平台已取消本笔款项"}
}

// finalDetails is what the Web UI shows of a run that ended.
func finalDetails(s State, reasons []Reason) string {
	if len(reasons) == 0 {
		return s.Label() + " " + string(s)
	}
	return fmt.Sprintf("%s %s: %s %s", s.Label(), s, reasons[0].Code, reasons[0].Message)
}

// stateLabels name the states in the payee's words.
var stateLabels = map[State]string{
	StateChecking:                "校验中",
	StateRejected:                "未通过校验",
	StateFaceRequired:            "待人脸核验",
	StateManualReview:            "人工审核中",
	StateAwaitingConfirmation:    "待确认收款",
	StatePaying:                  "付款中",
	StateAwaitingTransferConfirm: "待微信确认收款",
	StatePaid:                    "已收款",
	StateFailed:                  "付款失败",
	StateExpired:                 "已超时",
	StateCancelled:               "已取消",
}

// Label is the state in the payee's words.
func (s State) Label() string {
	if l, ok := stateLabels[s]; ok {
		return l
	}
	return string(s)
}

// transferFailMessages are WeChat Pay's fail_reason codes of a transfer bill (商家转账「订单失败原因说明」,
// pay.weixin.qq.com/doc/v3/merchant/4013774966), each as the payee reads it. A code not listed here is shown with
// the generic message and its code.
var transferFailMessages = map[string]string{
	"ACCOUNT_FROZEN":                         "您的微信账户已被冻结，暂时无法收款，款项已退回付款方",
	"ACCOUNT_NOT_EXIST":                      "收款微信账户不存在，款项已退回付款方",
	"BLOCK_B2C_USERLIMITAMOUNT_BSRULE_MONTH": "已超出您本月的转账收款限额，本月无法继续收款，款项已退回付款方",
	"BLOCK_B2C_USERLIMITAMOUNT_MONTH":        "您的账户存在风险，本月暂时无法收款，款项已退回付款方",
	"DAY_RECEIVED_COUNT_EXCEED":              "已超过您今日的收款次数，款项已退回付款方，请明日再试",
	"DAY_RECEIVED_QUOTA_EXCEED":              "已超过您今日的收款额度，款项已退回付款方，请明日再试",
	"EXCEEDED_ESTIMATED_AMOUNT":              "转账金额超出预约范围，款项已退回付款方",
	"ID_CARD_NOT_CORRECT":                    "收款人身份证校验不通过，款项已退回付款方",
	"MCH_CANCEL":                             "付款方已撤销本笔转账",
	"MERCHANT_REJECT":                        "付款方审核人员驳回了本笔转账，款项已退回付款方",
	"MERCHANT_NOT_CONFIRM":                   "付款方审核人员未及时确认本笔转账，款项已退回付款方",
	"NAME_NOT_CORRECT":                       "收款人姓名与微信实名信息不一致，款项已退回付款方",
	"OPENID_INVALID":                         "收款账户无效，款项已退回付款方",
	"OTHER_FAIL_REASON_TYPE":                 "转账失败，款项已退回付款方",
	"OVERDUE_CLOSE":                          "超过24小时未确认收款，款项已退回",
	"PAYEE_ACCOUNT_ABNORMAL":                 "您的微信账户收款异常，请在微信支付中完善身份信息后重新收款",
	"PAYER_ACCOUNT_ABNORMAL":                 "付款方账户暂时无法付款，请稍后重新收款",
	"PRODUCT_AUTH_CHECK_FAIL":                "付款方暂未开通转账功能，请联系付款企业",
	"REALNAME_ACCOUNT_RECEIVED_QUOTA_EXCEED": "您的微信账户收款受限，请在微信支付中查看详情",
	"REAL_NAME_CHECK_FAIL":                   "请先在微信中完成实名认证，再重新收款",
	"RECEIVE_ACCOUNT_NOT_CONFIGURE":          "付款方的转账场景配置有误，请联系付款企业",
	"RESERVATION_INFO_NOT_MATCH":             "转账信息与预约不一致，款项已退回付款方",
	"RESERVATION_SCENE_NOT_MATCH":            "转账场景与预约不一致，款项已退回付款方",
	"RESERVATION_STATE_INVALID":              "预约转账状态异常，款项已退回付款方",
	"TRANSFER_QUOTA_EXCEED":                  "超过您的单笔收款额度，款项已退回付款方",
	"TRANSFER_RISK":                          "本笔转账存在风险，已被微信支付拦截，款项已退回付款方",
}

// transferFailMessage is what the payee reads about a bill that did not pay.
func transferFailMessage(st TransferStatus) string {
	switch {
	case st.State == wechatpay.StateCancelled:
		return "转账已撤销"
	case st.State == TransferNotFound:
		return "转账未能发起，请稍后重新收款"
	}
	if m, ok := transferFailMessages[st.FailReason]; ok {
		return m
	}
	if st.FailReason == "" {
		return "转账失败，款项已退回付款方"
	}
	return "转账失败（" + st.FailReason + "），款项已退回付款方"
}

// manualReviewMessage answers the face failure that used the last attempt: nothing to retry, an operator decides.
const manualReviewMessage = "人脸核验未通过，已转人工审核，请耐心等待审核结果"
