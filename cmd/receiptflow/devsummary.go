//go:build !nodev

package main

import (
	"fmt"
	"io"
	"strings"
	"text/template"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/devserver"
)

var summary = template.Must(template.New("summary").Parse(`
receiptflow dev is running (Ctrl-C stops everything; starting again resumes runs in flight)

  API               {{.API}}
  simulator         {{.API}}/simulator/   (the 确认收款 page in a browser, the kit's own code)
  console           {{.API}}/console/   (operations and finance sign in with the token printed below)
  Temporal Web UI   {{.UI}}   (sign in with the token below; payloads decoded by the API)
  Temporal gRPC     {{.Temporal}}   namespace {{.Namespace}}, task queue {{.TaskQueue}}
  WeChat sandbox    {{.Sandbox}}
  data              {{.DataDir}}   (delete it to start afresh; dev keys are in dev-keys.json)
  face mode         {{.FaceMode}}   tax method {{.TaxMethod}}   payout channel {{.Payout}}
  operator token    {{.OperatorToken}}   (Authorization: Bearer … for /v1/ops and /codec; the Web UI's sign-in)

Demo: payer {{.Payer}}; payee {{.LowOpenID}} (low risk, order {{.LowOrder}}, 1,500 元) and
      payee {{.HighOpenID}} (high risk, order {{.HighOrder}}, 8,000 元: face verification first).

Walkthrough — the high-risk payee's 确认收款 (copy-paste into a shell; each step prints its answer):

  J='Content-Type: application/json'
  # 1. the phone logs in (the sandbox plays wx.login), then we open a session
  CODE=$(curl -s -X POST {{.Sandbox}}/sandbox/wx/login -H "$J" -d '{"openid":"{{.HighOpenID}}"}' | sed -E 's/.*"code":"([^"]+)".*/\1/')
  TOKEN=$(curl -s -X POST {{.API}}/v1/session -H "$J" -d "{\"code\":\"$CODE\"}" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  AUTH="Authorization: Bearer $TOKEN"

  # 2. tap 确认收款: the run starts; state FACE_REQUIRED, risk HIGH, amounts in fen
  VIEW=$(curl -s -X POST {{.API}}/v1/receipts/{{.HighOrder}} -H "$AUTH"); echo "$VIEW"
  case "$VIEW" in *'"state":"PAID"'*) echo "order {{.HighOrder}} is paid already (delete {{.DataDir}} to start afresh)" ;; *)
{{if eq .FaceMode "v1"}}
  # 3. face credential (the seed's apiGetUserIdKey), the phone's scan, then 二次校验 (apiVerifyFace)
  KEY=$(curl -s -X POST {{.API}}/v1/receipts/{{.HighOrder}}/face/session -H "$AUTH" -H "$J" -d '{"source":1}'); echo "$KEY"
  KEY=$(echo "$KEY" | sed -E 's/.*"userIdKey":"([^"]+)".*/\1/')
  RESULT=$(curl -s -X POST {{.Sandbox}}/sandbox/face/v1/scan -H "$J" -d "{\"userIdKey\":\"$KEY\",\"openid\":\"{{.HighOpenID}}\",\"outcome\":\"pass\"}" | sed -E 's/.*"verifyResult":"([^"]+)".*/\1/')
  curl -s -X POST {{.API}}/v1/receipts/{{.HighOrder}}/face/result -H "$AUTH" -H "$J" -d "{\"verifyResult\":\"$RESULT\",\"source\":1}"; echo
{{else}}
  # 3. face credential (verifyId), the phone's wx.requestFacialVerify, then the server-side query (二次校验)
  VID=$(curl -s -X POST {{.API}}/v1/receipts/{{.HighOrder}}/face/session -H "$AUTH"); echo "$VID"
  VID=$(echo "$VID" | sed -E 's/.*"verifyId":"([^"]+)".*/\1/')
  curl -s -X POST {{.Sandbox}}/sandbox/face/v2/verify -H "$J" -d "{\"verifyId\":\"$VID\",\"outcome\":\"pass\"}"; echo
  curl -s -X POST {{.API}}/v1/receipts/{{.HighOrder}}/face/result -H "$AUTH" -H "$J" -d "{\"verifyId\":\"$VID\"}"; echo
{{end}}
  # 4. 确认收款: 三流合一 again, tax withheld, payout created
{{- if eq .Payout "wechatpay"}}; the answer's payout.confirm is what the page passes to
  #    wx.requestMerchantTransfer
  ANSWER=$(curl -s -X POST {{.API}}/v1/receipts/{{.HighOrder}}/confirm -H "$AUTH"); echo "$ANSWER"

  # 5. the phone's wx.requestMerchantTransfer with payout.confirm (accept; or decline), WeChat Pay calls back → PAID
  CONFIRM=$(echo "$ANSWER" | sed -E 's/.*"confirm":(\{[^}]*\}).*/\1/')
  curl -s -X POST {{.Sandbox}}/sandbox/pay/confirm -H "$J" -d "$(echo "$CONFIRM" | sed 's/}$/,"action":"accept"}/')"; echo
  curl -s -X POST {{.API}}/v1/receipts/{{.HighOrder}}/transfer/confirmed -H "$AUTH"; echo
{{- else}} → PAID
  curl -s -X POST {{.API}}/v1/receipts/{{.HighOrder}}/confirm -H "$AUTH"; echo
{{- end}}
  curl -s {{.API}}/v1/receipts/{{.HighOrder}} -H "$AUTH"; echo
  ;; esac

  # 6. the demo payer's webhook endpoint is the sandbox's merchant receiver: order.paid arrived, signed and verified
  curl -s {{.Sandbox}}/sandbox/merchant/hooks; echo

  Then open {{.UI}} to see the run, its history and its search attributes.
  (Face outcomes other than "pass": mismatch_face, mismatch_id, cancel, device, expired, other_openid.)
`))

func printDevSummary(out io.Writer, cfg config.Config, apiURL, sandboxURL string, srv *devserver.Server, keys devKeys) {
	operator := keys.OperatorToken
	if len(cfg.OperatorTokens) > 0 {
		_, operator, _ = strings.Cut(cfg.OperatorTokens[0], ":")
	}
	err := summary.Execute(out, map[string]string{
		"API": apiURL, "UI": srv.UIURL(), "Temporal": srv.FrontendHostPort(), "Namespace": cfg.Temporal.Namespace,
		"TaskQueue": cfg.Temporal.TaskQueue, "Sandbox": sandboxURL, "DataDir": cfg.DataDir, "FaceMode": cfg.FaceMode,
		"TaxMethod": cfg.TaxMethod, "Payout": cfg.PayoutChannel, "OperatorToken": operator, "Payer": demoPayerID,
		"LowOpenID": demoLowOpenID, "LowOrder": demoLowOrder, "HighOpenID": demoHighOpenID, "HighOrder": demoHighOrder,
	})
	if err != nil {
		fmt.Fprintln(out, "(summary unavailable:", err, ")")
	}
}
