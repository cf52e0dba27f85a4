package worker

import (
	"os"
	"regexp"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
)

// deploy/temporal-namespace.sh (for those who use the temporal CLI instead of migrate) creates exactly the
// attributes the workflows write, with their types.
func TestNamespaceScriptListsEverySearchAttribute(t *testing.T) {
	raw, err := os.ReadFile("../deploy/temporal-namespace.sh")
	if err != nil {
		t.Fatal(err)
	}
	cliType := map[enumspb.IndexedValueType]string{
		enumspb.INDEXED_VALUE_TYPE_KEYWORD: "Keyword", enumspb.INDEXED_VALUE_TYPE_INT: "Int",
		enumspb.INDEXED_VALUE_TYPE_DATETIME: "Datetime", enumspb.INDEXED_VALUE_TYPE_BOOL: "Bool",
	}
	listed := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+):(Keyword|Int|Datetime|Bool|Text|Double|KeywordList)\b`).FindAllStringSubmatch(string(raw), -1) {
		listed[m[1]] = m[2]
	}
	want := SearchAttributes()
	for name, typ := range want {
		if listed[name] != cliType[typ] {
			t.Errorf("%s: script has %q, want %q", name, listed[name], cliType[typ])
		}
	}
	if len(listed) != len(want) {
		t.Errorf("script lists %v, want %d attributes", listed, len(want))
	}
}
