//go:build !nodev

package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/receiptflow/receiptflow/miniprogram"
	"github.com/receiptflow/receiptflow/pii"
)

// withSimulator serves dev's mini-program simulator beside the API: the page at /simulator/, the kit's modules at
// /simulator/kit/, the sandbox's phone endpoints at /simulator/phone/sandbox/… (same origin as the page) and
// /simulator/seed, which onboards a new payee with a funded order. Dev only: none of it exists in api.
func (s *stack) withSimulator(next http.Handler) (http.Handler, error) {
	page, err := fs.Sub(miniprogram.Files, "simulator")
	if err != nil {
		return nil, err
	}
	sandboxURL, err := url.Parse(s.sandboxURL)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /simulator/kit/", http.StripPrefix("/simulator/kit/", http.FileServerFS(miniprogram.Files)))
	mux.Handle("GET /simulator/", http.StripPrefix("/simulator/", http.FileServerFS(page)))
	mux.Handle("POST /simulator/phone/sandbox/", http.StripPrefix("/simulator/phone", httputil.NewSingleHostReverseProxy(sandboxURL)))
	mux.HandleFunc("POST /simulator/seed", s.simulatorSeed)
	mux.Handle("/", next)
	return mux, nil
}

// simulatorSeed onboards a payee of the demo payer with one order: {grossFen, face} → {openid, orderId}. face
// leaves the identity unbound, so the order asks for face verification.
func (s *stack) simulatorSeed(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrossFen int64 `json:"grossFen"`
		Face     bool  `json:"face"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.GrossFen <= 0 || req.GrossFen > 100000000 {
		writeSimulatorJSON(w, http.StatusBadRequest, map[string]string{"code": "BAD_REQUEST", "message": "grossFen must be 1 to 100000000 fen"})
		return
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	openid := "o_sim_" + hex.EncodeToString(suffix)
	day, _ := rand.Int(rand.Reader, big.NewInt(365*20))
	seq, _ := rand.Int(rand.Reader, big.NewInt(1000))
	birth := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(day.Int64()))
	id := pii.WithCheckDigit(fmt.Sprintf("110101%s%03d", birth.Format("20060102"), seq.Int64()))
	order, err := seedPayee(r.Context(), s.deps.store, demoPayerID, seededPayee{OpenID: openid, Name: "赵六", IDNumber: id,
		MerchantNo: "SIM-" + hex.EncodeToString(suffix), GrossFen: req.GrossFen, FaceBound: !req.Face})
	if err != nil {
		writeSimulatorJSON(w, http.StatusConflict, map[string]string{"code": "SEED_FAILED", "message": err.Error()})
		return
	}
	writeSimulatorJSON(w, http.StatusCreated, map[string]any{"openid": openid, "orderId": order, "grossFen": req.GrossFen})
}

func writeSimulatorJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
