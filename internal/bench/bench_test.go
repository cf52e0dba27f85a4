package bench

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/receiptflow/receiptflow/pii"
)

func TestParseFlags(t *testing.T) {
	o, err := ParseFlags([]string{"--mix", "0.25", "--concurrency", "32", "--channel", "wechatpay"}, io.Discard)
	if err != nil || o.FaceShare != 0.25 || o.Concurrency != 32 || o.Channel != "wechatpay" || o.FaceMode != "v2" || !o.Reference {
		t.Fatalf("%+v %v", o, err)
	}
	if o, err := ParseFlags([]string{"--mix", "face"}, io.Discard); err != nil || o.FaceShare != 1 {
		t.Fatalf("--mix face: %+v %v", o, err)
	}
	// Parked receipts wait at the face step: the run's header and JSON say face, not the default low.
	if o, err := ParseFlags([]string{"--park", "10"}, io.Discard); err != nil || o.Mix != "face" || o.FaceShare != 1 {
		t.Fatalf("--park: %+v %v", o, err)
	}
	for _, bad := range [][]string{{"--mix", "1.5"}, {"--mix", "some"}, {"--channel", "bank"}, {"--face-mode", "v3"},
		{"--concurrency", "0"}, {"--count", "0"}, {"--port", "9000"}} {
		if _, err := ParseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// A quarter of face receipts is every fourth one, spread through the run rather than bunched at its start.
func TestFaceShareIsSpreadEvenly(t *testing.T) {
	b := &bencher{o: Options{FaceShare: 0.25}}
	var picks []int
	for i := 0; i < 12; i++ {
		if b.isFace(i) {
			picks = append(picks, i)
		}
	}
	if len(picks) != 3 || picks[0] != 3 || picks[1] != 7 || picks[2] != 11 {
		t.Fatalf("face receipts of 12 at 0.25: %v", picks)
	}
}

// Percentiles are nearest-rank: of 1..10 ms, p50 is 5 and p95 the 10th (rank ⌈9.5⌉), as are p99 and max.
func TestSummariseIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 10; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	s := summarise(ds)
	if s.Count != 10 || s.P50 != 5 || s.P95 != 10 || s.P99 != 10 || s.Max != 10 {
		t.Fatalf("%+v", s)
	}
	if z := summarise(nil); z.Count != 0 || z.P99 != 0 {
		t.Fatalf("no samples: %+v", z)
	}
}

func TestIDNumbersAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 999, 1000, 1001, 54321} {
		id := IDNumber(i)
		if err := pii.ValidateIDNumber(id); err != nil || seen[id] {
			t.Errorf("IDNumber(%d) = %s: %v (seen %v)", i, id, err, seen[id])
		}
		seen[id] = true
	}
	if !strings.HasPrefix(IDNumber(1000), "11010119900102") {
		t.Errorf("the thousandth payee's birthday: %s", IDNumber(1000))
	}
}
