package mappings

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/normalize"
	"github.com/hpgate/hpgate/mappings/pii"
	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// constValue turns a YAML scalar of a rule (const, default) into a value:
// booleans and integers by their YAML tag, everything else as text.
func constValue(n *yamlfile.Node) any {
	switch n.ShortTag() {
	case "!!bool":
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return i
		}
	case "!!null":
		return nil
	}
	return n.Value
}

// raw returns the plan's source value for the current row.
func (st *rowState) raw(p *fieldPlan) (any, *rowError) {
	switch p.from {
	case fromColumn:
		return st.value(p.ref), nil
	case fromConst:
		return p.konst, nil
	case fromExpr:
		st.fillEnv()
		v, err := p.prog.run(&st.machine, st.env)
		if err != nil {
			return nil, reject(p.field.Name, "expr_error", "%s", err.Error())
		}
		return v, nil
	}
	return nil, nil
}

// writeField appends the JSON value of one field to st.data. It returns
// false when the field has no value (and is not required).
func (st *rowState) writeField(p *fieldPlan) (bool, *rowError) {
	if p.from == fromAuto {
		return st.writeAuto(p)
	}
	v, e := st.raw(p)
	if e != nil {
		return false, e
	}
	if isBlank(v) {
		v = p.def
	}
	if isBlank(v) {
		if p.required {
			return false, st.missing(p)
		}
		return false, nil
	}
	if p.code != nil && p.field.Kind != canonical.KindStrings && p.field.Kind != canonical.KindEnums {
		s, e := st.lookup(p, v)
		if e != nil {
			return false, e
		}
		switch p.field.Kind {
		case canonical.KindString, canonical.KindEnum, canonical.KindCode:
			return true, st.writeText(p, s) // no boxing on the common path
		}
		v = s
	}
	return true, st.convert(p, v)
}

func (st *rowState) missing(p *fieldPlan) *rowError {
	from := "its rule"
	if p.from == fromColumn {
		from = "column " + st.m.columns[p.ref]
	}
	return reject(p.field.Name, "missing_required", "required value is missing (%s is empty)", from)
}

func (st *rowState) lookup(p *fieldPlan, v any) (string, *rowError) {
	code, err := textOf(v, p.enc)
	if err != nil {
		return "", reject(p.field.Name, codeOf(err), "%s", msgOf(err))
	}
	at := st.ts
	if !st.hasTS {
		at = time.Time{}
	}
	if out, ok := p.code.Lookup(code, at); ok {
		return out, nil
	}
	if p.codeDef != nil {
		return *p.codeDef, nil
	}
	return "", reject(p.field.Name, "unknown_code", "code %s is not in code table %s", sayValue(code), p.code.Name)
}

func (st *rowState) writeAuto(p *fieldPlan) (bool, *rowError) {
	m := st.m
	switch p.auto {
	case autoPersonKey:
		st.data = append(append(append(st.data, '"'), st.pkey...), '"')
	case autoIDMasked:
		if len(st.masked) == 0 {
			return false, nil
		}
		st.data = canonical.AppendBytesString(st.data, st.masked)
	case autoIDQuality:
		st.data = canonical.AppendString(st.data, st.idq)
	case autoCounty:
		st.data = canonical.AppendString(st.data, m.County)
	case autoSourceSystem:
		st.data = canonical.AppendString(st.data, m.System)
	case autoSourceID:
		st.data = append(st.data, '"')
		for k, ref := range m.keyRefs {
			if k > 0 {
				st.data = append(st.data, '|')
			}
			st.data = m.appendKeyValueJSON(st.data, st, ref)
		}
		st.data = append(st.data, '"')
	case autoUpdatedAt:
		if !st.hasTS {
			return false, nil
		}
		st.lastTime = st.ts
		st.data = append(st.data, '"')
		st.data = appendRFC3339(st.data, st.ts)
		st.data = append(st.data, '"')
	case autoBirthYear:
		if st.id.BirthYear == 0 {
			return false, nil
		}
		st.data = strconv.AppendInt(st.data, int64(st.id.BirthYear), 10)
	case autoGender:
		if st.id.Gender == 0 {
			return false, nil
		}
		st.data = append(st.data, '"', st.id.Gender, '"')
	}
	return true, nil
}

// convert appends v as the JSON value of the field's kind.
func (st *rowState) convert(p *fieldPlan, v any) *rowError {
	f := p.field
	name := f.Name
	switch f.Kind {
	case canonical.KindMoney:
		if i, ok := v.(int); ok { // expression results are whole fen or yuan
			v = int64(i)
		}
		amt, err := normalize.Money(v, p.unit)
		if err != nil {
			return reject(name, codeOf(err), "%s", msgOf(err))
		}
		st.data = append(st.data, '"')
		st.data = amt.AppendYuan(st.data)
		st.data = append(st.data, '"')
	case canonical.KindDate, canonical.KindDateTime:
		t, err := normalize.Date(v, st.m.zone, p.layouts...)
		if err != nil {
			return reject(name, codeOf(err), "%s", msgOf(err))
		}
		st.lastTime = t
		st.data = append(st.data, '"')
		if f.Kind == canonical.KindDate {
			st.data = appendDate(st.data, t)
		} else {
			st.data = appendRFC3339(st.data, t)
		}
		st.data = append(st.data, '"')
	case canonical.KindInt:
		n, err := intOf(v)
		if err != nil {
			return reject(name, "bad_value", "%s", err.Error())
		}
		if (f.Min != nil && n < int64(*f.Min)) || (f.Max != nil && n > int64(*f.Max)) {
			return reject(name, "bad_value", "%d is out of range", n)
		}
		st.data = strconv.AppendInt(st.data, n, 10)
	case canonical.KindNumber:
		s, err := numberOf(v)
		if err != nil {
			return reject(name, "bad_value", "%s", err.Error())
		}
		st.data = append(st.data, s...)
	case canonical.KindBool:
		b, err := boolOf(v)
		if err != nil {
			return reject(name, "bad_value", "%s", err.Error())
		}
		st.data = strconv.AppendBool(st.data, b)
	case canonical.KindStrings, canonical.KindEnums:
		return st.convertList(p, v)
	default: // string, enum, code
		s, err := textOf(v, p.enc)
		if err != nil {
			return reject(name, codeOf(err), "%s", msgOf(err))
		}
		return st.writeText(p, s)
	}
	return nil
}

func (st *rowState) writeText(p *fieldPlan, s string) *rowError {
	name := p.field.Name
	switch p.hashKey {
	case hashPerson:
		id, err := normalize.IDCard(s)
		if err != nil {
			return reject(name, codeOf(err), "%s", msgOf(err))
		}
		st.data = append(st.data, '"')
		st.data = st.hasher.AppendKey(st.data, id.Number)
		st.data = append(st.data, '"')
		return nil
	case hashValue:
		st.data = append(st.data, '"')
		st.data = st.hasher.AppendKey(st.data, name+":"+s)
		st.data = append(st.data, '"')
		return nil
	}
	if strings.HasSuffix(name, "id_masked") {
		id, err := normalize.IDCard(s)
		if err != nil {
			return reject(name, codeOf(err), "%s", msgOf(err))
		}
		s = pii.MaskID(id.Number)
	}
	if len(s) > maxExprText {
		return reject(name, "value_too_long", "value has %d bytes; the limit is %d", len(s), maxExprText)
	}
	if p.pii {
		st.tmp = pii.AppendMaskedName(st.tmp[:0], s)
		s = unsafe.String(unsafe.SliceData(st.tmp), len(st.tmp))
	}
	if p.enum != nil {
		if _, ok := p.enum[s]; !ok {
			return reject(name, "unknown_code", "value %s is not one of %s (map it with a code table)", sayValue(s), strings.Join(p.field.Enum, ", "))
		}
	}
	if p.pattern != nil && !st.matches(p, s) {
		return reject(name, "bad_value", "value %s does not match the pattern %s", sayValue(s), p.field.Pattern)
	}
	st.data = canonical.AppendString(st.data, s)
	return nil
}

const defaultSeparators = ",;|，；、"

func (st *rowState) convertList(p *fieldPlan, v any) *rowError {
	var items []string
	switch x := v.(type) {
	case []any:
		for _, it := range x {
			s, err := textOf(it, p.enc)
			if err != nil {
				return reject(p.field.Name, codeOf(err), "%s", msgOf(err))
			}
			items = append(items, s)
		}
	case []string:
		items = x
	default:
		s, err := textOf(v, p.enc)
		if err != nil {
			return reject(p.field.Name, codeOf(err), "%s", msgOf(err))
		}
		seps := p.sep
		if seps == "" {
			seps = defaultSeparators
		}
		items = strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) })
	}
	st.data = append(st.data, '[')
	n := 0
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		if p.code != nil {
			s, e := st.lookup(p, it)
			if e != nil {
				return e
			}
			it = s
		}
		if p.enum != nil {
			if _, ok := p.enum[it]; !ok {
				return reject(p.field.Name, "unknown_code", "value %s is not one of %s (map it with a code table)", sayValue(it), strings.Join(p.field.Enum, ", "))
			}
		}
		if p.pattern != nil && !st.matches(p, it) {
			return reject(p.field.Name, "bad_value", "item %s does not match the pattern %s", sayValue(it), p.field.Pattern)
		}
		if n > 0 {
			st.data = append(st.data, ',')
		}
		st.data = canonical.AppendString(st.data, it)
		n++
	}
	st.data = append(st.data, ']')
	return nil
}

func intOf(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%v is not a whole number", x)
		}
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	s, err := textOf(v, normalize.UTF8)
	if err != nil {
		return 0, err
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, ".00"), ".0")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("value %s is not a whole number", sayValue(s))
	}
	return n, nil
}

// numberOf returns the value as a JSON number literal.
func numberOf(v any) (string, error) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("value is not a finite number")
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	s, err := textOf(v, normalize.UTF8)
	if err != nil {
		return "", err
	}
	f, perr := strconv.ParseFloat(s, 64)
	if perr != nil || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpP_eEinfINFnaNA") {
		return "", fmt.Errorf("value %s is not a decimal number", sayValue(s))
	}
	// Normalise to a JSON literal: no '+', no leading zeros, a digit on
	// both sides of the point.
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if hasFrac && frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, nil
}

func boolOf(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case int:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	}
	s, err := textOf(v, normalize.UTF8)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "1", "y", "yes", "t", "true", "是", "有":
		return true, nil
	case "0", "n", "no", "f", "false", "否", "无":
		return false, nil
	}
	return false, fmt.Errorf("value %s is not a yes/no value (1/0, Y/N, 是/否, true/false)", sayValue(s))
}

// matches checks s against the field's pattern. Codes repeat from row to
// row (a county has a few hundred diagnoses and facilities), so values
// that matched are remembered per field, up to a bound.
func (st *rowState) matches(p *fieldPlan, s string) bool {
	if _, ok := st.matched[p][s]; ok {
		return true
	}
	if !p.pattern.MatchString(s) {
		return false
	}
	if st.matched == nil {
		st.matched = make(map[*fieldPlan]map[string]struct{})
	}
	m := st.matched[p]
	if m == nil {
		m = make(map[string]struct{})
		st.matched[p] = m
	}
	if len(m) < maxMatchedValues {
		m[strings.Clone(s)] = struct{}{} // s may view the row's bytes
	}
	return true
}

const maxMatchedValues = 4096
