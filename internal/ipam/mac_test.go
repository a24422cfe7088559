package ipam

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

func TestNormalizeMAC(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"fa:16:3e:01:02:03", "fa:16:3e:01:02:03", ""},
		{"FA:16:3E:0A:0B:0C", "fa:16:3e:0a:0b:0c", ""},
		{"fa-16-3e-01-02-03", "fa:16:3e:01:02:03", ""},
		{"FA-16-3E-AB-CD-EF", "fa:16:3e:ab:cd:ef", ""},
		{"fa:16:3e:1:2:3", "fa:16:3e:01:02:03", ""},
		{"fa16.3e01.0203", "fa:16:3e:01:02:03", ""},
		{"fa163e010203", "fa:16:3e:01:02:03", ""},
		{"02:00:00:00:00:01", "02:00:00:00:00:01", ""},
		{"00:00:00:00:00:01", "00:00:00:00:00:01", ""},
		{"", "", "'' is not a valid MAC address"},
		{"fa:16:3e:01:02", "", "'fa:16:3e:01:02' is not a valid MAC address"},
		{"fa:16:3e:01:02:03:04", "", "'fa:16:3e:01:02:03:04' is not a valid MAC address"},
		{"fa:16:3e:01:02:0g", "", "'fa:16:3e:01:02:0g' is not a valid MAC address"},
		{"fa:16:3e:01:02:003", "", "'fa:16:3e:01:02:003' is not a valid MAC address"},
		{"fa:16:3e::02:03", "", "'fa:16:3e::02:03' is not a valid MAC address"},
		{"fa:16-3e:01:02:03", "", "'fa:16-3e:01:02:03' is not a valid MAC address"},
		{" fa:16:3e:01:02:03", "", "' fa:16:3e:01:02:03' is not a valid MAC address"},
		{"fa16.3e01.020", "", "'fa16.3e01.020' is not a valid MAC address"},
		{"fa163e01020", "", "'fa163e01020' is not a valid MAC address"},
		{"00:00:00:00:00:00", "", "'00:00:00:00:00:00' is not a valid MAC address: the all-zero address is not allowed"},
		{"00-00-00-00-00-00", "", "'00-00-00-00-00-00' is not a valid MAC address: the all-zero address is not allowed"},
		{"01:00:5e:00:00:01", "", "'01:00:5e:00:00:01' is not a valid MAC address: multicast addresses are not allowed"},
		{"FF:FF:FF:FF:FF:FF", "", "'FF:FF:FF:FF:FF:FF' is not a valid MAC address: multicast addresses are not allowed"},
		{"fb:16:3e:01:02:03", "", "'fb:16:3e:01:02:03' is not a valid MAC address: multicast addresses are not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeMAC(tt.in)
			checkErr(t, err, tt.err, "InvalidInput", 400)
			if err != nil {
				if m := err.(Error).Message(); m != "Invalid input for mac_address. Reason: "+tt.err+"." {
					t.Errorf("Message() = %q", m)
				}
				return
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseBaseMAC(t *testing.T) {
	for _, ok := range []string{DefaultBaseMAC, "FA:16:3E:AB:00:00", "fa-16-3e-00-00-00", "00:00:00:00:00:00", "02:00:00:00:00:00"} {
		if err := ParseBaseMAC(ok); err != nil {
			t.Errorf("ParseBaseMAC(%q) = %v", ok, err)
		}
	}
	for bad, msg := range map[string]string{
		"fa:16:3e":          `invalid base_mac "fa:16:3e": not a MAC address`,
		"zz:16:3e:00:00:00": `invalid base_mac "zz:16:3e:00:00:00": not a MAC address`,
		"01:16:3e:00:00:00": `invalid base_mac "01:16:3e:00:00:00": multicast base would generate multicast MAC addresses`,
	} {
		if err := ParseBaseMAC(bad); err == nil || err.Error() != msg {
			t.Errorf("ParseBaseMAC(%q) = %v, want %q", bad, err, msg)
		}
		if _, err := GenerateMAC(bad, nil); err == nil {
			t.Errorf("GenerateMAC(%q) succeeded", bad)
		}
	}
}

var macRE = regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`)

func TestGenerateMACRespectsBase(t *testing.T) {
	tests := []struct {
		base, prefix string
		randOctets   int
	}{
		{DefaultBaseMAC, "fa:16:3e:", 3},
		{"FA:16:3E:00:00:00", "fa:16:3e:", 3},
		{"fa:16:3e:00:12:34", "fa:16:3e:", 3}, // 5th/6th octets of the base are ignored
		{"fa:16:3e:ab:00:00", "fa:16:3e:ab:", 2},
		{"fa:16:3e:01:ff:ff", "fa:16:3e:01:", 2},
		{"02:aa:bb:00:00:00", "02:aa:bb:", 3},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			g, err := NewMACGenerator(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			seen := make([]map[string]bool, 6)
			for i := range seen {
				seen[i] = map[string]bool{}
			}
			for range 2000 {
				m := g.Generate(rng.IntN)
				if !macRE.MatchString(m) || m[:len(tt.prefix)] != tt.prefix {
					t.Fatalf("generated %q from base %q", m, tt.base)
				}
				if _, err := NormalizeMAC(m); err != nil {
					t.Fatalf("generated invalid MAC %q: %v", m, err)
				}
				for i := range 6 {
					seen[i][m[3*i:3*i+2]] = true
				}
			}
			for i := range 6 {
				random := i >= 6-tt.randOctets
				if random && len(seen[i]) < 200 {
					t.Errorf("octet %d took only %d values", i+1, len(seen[i]))
				}
				if !random && len(seen[i]) != 1 {
					t.Errorf("fixed octet %d took %d values", i+1, len(seen[i]))
				}
			}
		})
	}

	// Deterministic source; the all-zero MAC is never produced.
	vals := []int{0, 0x010203}
	i := 0
	seq := func(n int) int { v := vals[i%len(vals)] % n; i++; return v }
	m, err := GenerateMAC("00:00:00:00:00:00", seq)
	if err != nil || m != "00:00:00:01:02:03" {
		t.Errorf("zero base: %q %v", m, err)
	}
	i = 1
	if m, _ := GenerateMAC("fa:16:3e:77:00:00", seq); m != "fa:16:3e:77:02:03" {
		t.Errorf("fixed 4th: %q", m)
	}
	if m, _ := GenerateMAC(DefaultBaseMAC, nil); !macRE.MatchString(m) {
		t.Errorf("nil source: %q", m)
	}
}

func BenchmarkGenerateMAC(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		if _, err := GenerateMAC(DefaultBaseMAC, rng.IntN); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMACGenerator(b *testing.B) {
	g, _ := NewMACGenerator(DefaultBaseMAC)
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		_ = g.Generate(rng.IntN)
	}
}
