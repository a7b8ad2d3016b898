package mail

// The HTML pieces of layout.html take their sentences from the catalogue
// ({{.T "mail.…"}}); the one helper they need pairs a sentence with the
// link that follows it on its own line.

// TextLink is a sentence followed by a link on its own line ("plink").
type TextLink struct {
	Text string
	Href string
}

func htmlFuncs() map[string]any {
	return map[string]any{
		"textLink": func(text, href string) TextLink { return TextLink{Text: text, Href: href} },
	}
}
