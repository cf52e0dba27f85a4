//go:build !nodev

package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/big"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/receiptflow/receiptflow/api"
	"github.com/receiptflow/receiptflow/miniprogram"
	"github.com/receiptflow/receiptflow/pii"
)

// withSimulator serves dev's mini-program simulator beside the API: the page at /simulator/, the kit's modules at
// /simulator/kit/, the sandbox's phone endpoints at /simulator/phone/sandbox/… (same origin as the page) and
// /simulator/seed, which onboards a new payee with a funded order, and /simulator/merchant/hooks, the webhooks
// the demo payer's endpoint (the sandbox's receiver) got. Dev only: none of it exists in api.
func (s *stack) withSimulator(next http.Handler, hosts []string) (http.Handler, error) {
	page, err := fs.Sub(miniprogram.Files, "simulator")
	if err != nil {
		return nil, err
	}
	sandboxURL, err := url.Parse(s.sandboxURL)
	if err != nil {
		return nil, err
	}
	sim := http.NewServeMux()
	sim.Handle("GET /simulator/kit/", http.StripPrefix("/simulator/kit/", http.FileServerFS(miniprogram.Files)))
	sim.Handle("GET /simulator/", http.StripPrefix("/simulator/", http.FileServerFS(page)))
	sim.Handle("POST /simulator/phone/sandbox/", http.StripPrefix("/simulator/phone", httputil.NewSingleHostReverseProxy(sandboxURL)))
	sim.HandleFunc("POST /simulator/seed", s.simulatorSeed)
	sim.Handle("GET /simulator/merchant/hooks", s.sb.MerchantHooks()) // what the demo payer's endpoint received
	mux := http.NewServeMux()
	mux.Handle("/simulator/", devDoor(hosts, sim))
	mux.Handle("/", next)
	return mux, nil
}

// devDoor keeps a web page on another site out of a dev-only door: it answers only the Hosts the server was
// started for (421 otherwise: a name rebound to this machine, DNS rebinding), and a write only as JSON from its
// own origin (a cross-origin form or text/plain post — which a browser sends without asking — is refused).
func devDoor(hosts []string, next http.Handler) http.Handler {
	return api.HostDoor(hosts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeProblem(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "request bodies must be JSON (Content-Type: application/json)")
				return
			}
			if !api.SameOrigin(r) {
				api.WriteProblem(w, api.ErrCrossOrigin)
				return
			}
		}
		next.ServeHTTP(w, r)
	}))
}

func writeProblem(w http.ResponseWriter, status int, code, msg string) {
	api.WriteProblem(w, &api.Problem{Status: status, Code: code, Message: msg})
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
