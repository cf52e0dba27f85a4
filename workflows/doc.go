// Package workflows holds receiptflow's seven workflows. Nothing here does I/O: every side effect is an activity
// (package activities), called through the typed steps of steps.go.
//
// The workflows, and where each lives:
//
//	ConfirmReceipt   the payee's whole 确认收款 as one durable run
//	                   the sequence, eligibility, the confirm, the end  receipt.go
//	                   face verification                                face.go
//	                   the payout: plan, tax, creating the bill         payout.go
//	                   the bill: waiting for the payee, following it    bill.go
//	                   its updates, signals and query                   handlers.go, messages.go
//	                   what the page shows                              view.go, wording.go
//	SettleBill       a bill whose run is gone, settled by its callback  settle.go
//	Reconcile        our bills against WeChat Pay's, page by page      reconcile.go
//	MonthlyFiling    the month's 扣缴申报 from the books               filing.go
//	QuarterlyReport  the quarter's 涉税信息报送 from the books         report.go
//	FetchReceipt     a paid bill's 电子回单                             billreceipt.go
//	DeliverWebhook   one merchant webhook event, retried for 72 h       webhooks.go
//	                   (ConfirmReceipt announces its events there too)
//
// Shared by them: names.go (message names, workflow IDs, the task queue, who may send each update), payloads.go
// (the inputs, results and states that histories carry), steps.go (the activities as typed steps and their
// options), helpers.go (named timers, errors, the time a person reads). The tests follow the files (face_test.go,
// payout_test.go, cancel_test.go, ...) on the SDK's test environment (scenario_test.go, fake_test.go).
//
// Until the first release is tagged, a change to a workflow re-records the histories in testdata/ (go test
// ./cmd/receiptflow -run TestHistories -args -record); from it on, a change goes behind workflow.GetVersion and
// the recorded histories keep replaying.
package workflows
