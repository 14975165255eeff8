package pii

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleID = "11010519491231002X"

func TestPersonKeyIsHMACUnderDerivedKey(t *testing.T) {
	k := TestKey()
	macKey, err := hkdf.Key(sha256.New, []byte(TestSecret), nil, "hpgate person key v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, macKey)
	m.Write([]byte(sampleID))
	want := "test:" + hex.EncodeToString(m.Sum(nil))
	if got := k.PersonKey(sampleID); got != want {
		t.Fatalf("PersonKey = %s, want %s", got, want)
	}
	h := k.NewHasher()
	if got := string(h.AppendKey(nil, sampleID)); got != want {
		t.Fatalf("Hasher differs: %s", got)
	}
	other, _ := NewKey("k2", bytes.Repeat([]byte{7}, 32))
	if other.PersonKey(sampleID)[3:] == want[5:] {
		t.Fatal("different secrets gave the same HMAC")
	}
}

func TestHasherAllocs(t *testing.T) {
	h := TestKey().NewHasher()
	buf := make([]byte, 0, 128)
	if n := testing.AllocsPerRun(100, func() { buf = h.AppendKey(buf[:0], sampleID) }); n != 0 {
		t.Errorf("AppendKey allocates %v times", n)
	}
}

func TestMasking(t *testing.T) {
	cases := []struct{ in, id, name string }{
		{sampleID, "110105********002X", ""},
		{"张三", "", "张*"},
		{"欧阳娜娜", "", "欧***"},
		{"李", "", "*"},
		{"12345", "****5", ""},
	}
	for _, c := range cases {
		if c.id != "" {
			if got := MaskID(c.in); got != c.id {
				t.Errorf("MaskID(%q) = %q, want %q", c.in, got, c.id)
			}
		}
		if c.name != "" {
			if got := MaskName(c.in); got != c.name {
				t.Errorf("MaskName(%q) = %q, want %q", c.in, got, c.name)
			}
		}
	}
}

func TestLogValuersNeverShowClearValues(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "id", IDNumber(sampleID), "name", Name("张三丰"), "key", TestKey())
	out := buf.String() + fmt.Sprint(IDNumber(sampleID), Name("张三丰"))
	for _, clear := range []string{sampleID, "张三丰", TestSecret, "19491231"} {
		if strings.Contains(out, clear) {
			t.Errorf("output shows %q: %s", clear, out)
		}
	}
}

func TestSealOpen(t *testing.T) {
	k := TestKey()
	s, err := k.Seal([]byte(`{"SFZH":"` + sampleID + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, sampleID) {
		t.Fatal("sealed text shows the ID")
	}
	back, err := k.Open(s)
	if err != nil || !strings.Contains(string(back), sampleID) {
		t.Fatalf("Open = %q, %v", back, err)
	}
	other, _ := NewKey("test", bytes.Repeat([]byte{1}, 32))
	if _, err := other.Open(s); err == nil {
		t.Fatal("opened under the wrong key")
	}
}

func TestLoadKey(t *testing.T) {
	t.Setenv("HPGATE_TEST_KEY", hex.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	if _, err := LoadKey("k1", "HPGATE_TEST_KEY", ""); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HPGATE_SHORT_KEY", "abcd")
	_, err := LoadKey("k1", "HPGATE_SHORT_KEY", "")
	if err == nil || strings.Contains(err.Error(), "abcd") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := LoadKey("K1", "HPGATE_TEST_KEY", ""); err == nil {
		t.Fatal("upper-case key id accepted")
	}
	if _, err := LoadKey("k1", "HPGATE_UNSET_VARIABLE", ""); err == nil || !strings.Contains(err.Error(), "HPGATE_UNSET_VARIABLE") {
		t.Fatalf("unset env: %v", err)
	}
}

// TestLoadSecretFile: a key file is trimmed (editors add a newline), an
// empty one and a key given twice are errors naming the keys, and no
// error shows the secret.
func TestLoadSecretFile(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	text := hex.EncodeToString(secret)
	dir := t.TempDir()
	keyFile, empty := filepath.Join(dir, "key"), filepath.Join(dir, "empty")
	if err := os.WriteFile(keyFile, []byte("  "+text+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadSecret("", keyFile); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("LoadSecret(key file) = %x, %v", got, err)
	}
	t.Setenv("HPGATE_TEST_KEY", text)
	for _, tc := range []struct{ env, file, want string }{
		{"", empty, "key_file: file " + empty + " is empty"},
		{"HPGATE_TEST_KEY", keyFile, "key_env: set key_env or key_file, not both"},
		{"", "", "key_env: no pseudonymisation key: set key_env or key_file"},
	} {
		_, err := LoadSecret(tc.env, tc.file)
		if err == nil || err.Error() != tc.want {
			t.Errorf("LoadSecret(%q, %q): %v, want %q", tc.env, tc.file, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), text) {
			t.Errorf("error %q shows the secret", err)
		}
	}
}
