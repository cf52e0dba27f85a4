package workflows

import "time"

// View is the whole page: what the status query, every update and the API return.
type View struct {
	OrderID         string      `json:"orderId"`
	State           State       `json:"state"`
	Reasons         []Reason    `json:"reasons,omitempty"`
	PayerID         string      `json:"payerId,omitempty"`
	Amounts         *Amounts    `json:"amounts,omitempty"`
	Risk            *Risk       `json:"risk,omitempty"`
	Face            *FaceView   `json:"face,omitempty"`
	ConfirmDeadline *time.Time  `json:"confirmDeadline,omitempty"`
	Review          *ReviewView `json:"review,omitempty"`
	Payout          *PayoutView `json:"payout,omitempty"`
	Cancel          *CancelView `json:"cancel,omitempty"`
	// CancelledBy is role:id of who cancelled (kept for clients of the first version; Cancel says more).
	CancelledBy string    `json:"cancelledBy,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// Pending: the run could not answer in time and this is the API's own account of it (a tap answered 202 while
	// the run starts; a view from the run's search attributes); ask again for the run's. The workflow never sets it.
	Pending bool `json:"pending,omitempty"`
}

// FaceView is the face step as the page shows it.
type FaceView struct {
	Mode            string     `json:"mode"`
	AttemptsAllowed int        `json:"attemptsAllowed"`
	AttemptsUsed    int        `json:"attemptsUsed"`
	AttemptsLeft    int        `json:"attemptsLeft"`
	Passed          bool       `json:"passed"`
	LastOutcome     string     `json:"lastOutcome,omitempty"`
	LastCode        int        `json:"lastCode,omitempty"`
	Deadline        *time.Time `json:"deadline,omitempty"`
}

// ReviewView is the operator's decision.
type ReviewView struct {
	OperatorID string    `json:"operatorId"`
	Approved   bool      `json:"approved"`
	Note       string    `json:"note"`
	At         time.Time `json:"at"`
}

// PayoutView is the payout's progress.
type PayoutView struct {
	OutBillNo  string `json:"outBillNo"`
	Attempt    int    `json:"attempt,omitempty"` // which bill of the order this is (out_bill_no {order}T{attempt})
	State      string `json:"state"`
	FailReason string `json:"failReason,omitempty"`
	// Confirm is what the page passes to wx.requestMerchantTransfer while the payee can (re)open WeChat's confirm
	// page: waiting for them, or transferring after their confirm.
	Confirm *MerchantTransferParams `json:"confirm,omitempty"`
	// Retrying: creating the bill failed and is being retried (LastError says why, Tries how often so far).
	Retrying  bool   `json:"retrying,omitempty"`
	Tries     int    `json:"tries,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// CancelView is a cancel the run took: who asked (by role; By is an ID, never a person's name), why, and — while
// the bill is still being made or followed — what it waits for before it can take effect.
type CancelView struct {
	Role       string    `json:"role"`
	By         string    `json:"by"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
	Pending    bool      `json:"pending"`
	WaitingFor string    `json:"waitingFor,omitempty"`
}
