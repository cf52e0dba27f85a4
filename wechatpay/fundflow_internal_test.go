package wechatpay

import "testing"

// Amounts in the fund-flow bill are 元 with up to two decimals; a negative one keeps its sign in every part (the
// old parser turned -0.50 into +0.50 and -12.34 into -11.66).
func TestFenOf(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1234.56": 123456, "1.5": 150, "-0.50": -50, "-12.34": -1234, "-7": -700, " 8.00 ": 800} {
		if got, err := fenOf(in); err != nil || got != want {
			t.Errorf("fenOf(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-", "abc", "1.234", "+1", "--1", "1.-5", "1e3", "1,000.00"} {
		if got, err := fenOf(bad); err == nil {
			t.Errorf("fenOf(%q) = %d, want an error", bad, got)
		}
	}
}
