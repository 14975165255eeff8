package normalize_test

import (
	"errors"
	"fmt"

	"github.com/hpgate/hpgate/mappings/normalize"
)

func ExampleIDCard() {
	id, err := normalize.IDCard(" 110105491231002 ") // legacy 15-digit number
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(id.Number, id.Quality, id.BirthYear, string(id.Gender))

	_, err = normalize.IDCard("110105194912310021")
	var e *normalize.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code) // a metric label; the message never holds the number
	}
	// Output:
	// 11010519491231002X upgraded_15 1949 2
	// bad_check_digit
}

func ExampleDate() {
	for _, v := range []any{"2019年3月1日", "2019/3/1 9:05", 43525, "2019-02-30"} {
		t, err := normalize.Date(v, nil)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(t.Format("2006-01-02 15:04:05 MST"))
	}
	// Output:
	// 2019-03-01 00:00:00 CST
	// 2019-03-01 09:05:00 CST
	// 2019-03-01 00:00:00 CST
	// unparseable_date: day out of range for the month
}

func ExampleMoney() {
	for _, v := range []any{"¥1,234.565", -1.005, []byte("0.30")} {
		f, err := normalize.Money(v, normalize.Yuan)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(int64(f), f)
	}
	// Output:
	// 123457 1234.57
	// -101 -1.01
	// 30 0.30
}
