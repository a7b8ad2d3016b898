package mail
import ("fmt";"testing")
func TestShow(t *testing.T) {
	c, _ := NewComposer()
	for _, s := range kindSpecs() {
		d := sampleData(s.kind); d.FirstName = "Bob"
		if s.kind == KindEmailTaken { d.IP, d.UserAgent = "", "" }
		m, err := c.Compose(s.kind, "Marbelle <no-reply@localhost>", "bob@example.com", d)
		if err != nil { t.Fatal(err) }
		fmt.Printf("===== %s\nSubject: %s\n%s", s.kind, m.Subject, m.Text)
		if s.kind == KindVerifyEmail || s.kind == KindEmailTaken { fmt.Println(m.HTML) }
	}
}
