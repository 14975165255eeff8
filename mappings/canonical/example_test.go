package canonical_test

import (
	"fmt"
	"strings"

	"github.com/hpgate/hpgate/mappings/canonical"
)

func ExampleLookup() {
	e, ok := canonical.Lookup("enrollment")
	if !ok {
		fmt.Println("no such entity")
		return
	}
	fmt.Println(e.Schema, e.Topic, e.PersonKeyed)
	fmt.Println(strings.Join(e.Required(), " "))
	f, _ := e.Field("policy_level")
	fmt.Println(f.Kind, f.Enum, f.AllowsValue("poverty_preferential"))
	// Output:
	// hp.enrollment/v1 enrollment.v1 true
	// county id_quality person_key source_id source_system year
	// enum [standard poverty_preferential] true
}

func ExampleAppendString() {
	buf := make([]byte, 0, 64)
	buf = append(buf, `{"name_masked":`...)
	buf = canonical.AppendString(buf, "张*")
	buf = append(buf, `,"note":`...)
	buf = canonical.AppendString(buf, "<a&b>\n")
	buf = append(buf, '}')
	fmt.Println(string(buf))
	// Output:
	// {"name_masked":"张*","note":"\u003ca\u0026b\u003e\n"}
}

func ExampleValidateData() {
	err := canonical.ValidateData("settlement", []byte(`{
		"county": "370282", "source_system": "insurance", "source_id": "JS1",
		"person_key": "k1:0f3a5b7c9d1e2f304152637485960a1b2c3d4e5f60718293a4b5c6d7e8f90011",
		"id_quality": "valid", "settlement_no": "JS1",
		"settled_at": "2019-03-01T10:00:00+08:00", "total_cost": "1200.5"}`))
	fmt.Println(err)
	// Output:
	// hp.settlement/v1: /total_cost: does not match pattern ^-?[0-9]+\.[0-9]{2}$
}
