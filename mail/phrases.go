package mail

import "fmt"

// The English sentences the shared HTML pieces need, one function each so
// a catalogue lookup (German and English) can replace them without touching
// layout.html. The kinds' own sentences live in their templates.

// TextLink is a sentence followed by a link on its own line ("plink").
type TextLink struct {
	Text string
	Href string
}

func htmlFuncs() map[string]any {
	return map[string]any{
		"textLink":       func(text, href string) TextLink { return TextLink{Text: text, Href: href} },
		"greeting":       greeting,
		"buttonFallback": func() string { return "If the button does not work, copy this link into your browser:" },
		"undoText":       undoText,
		"originLines":    originLines,
		"footer":         func(site string) string { return "This is an automated message from " + site + "." },
	}
}

func greeting(firstName string) string {
	if firstName == "" {
		return "Hi,"
	}
	return "Hi " + firstName + ","
}

func undoText(ttl string) string {
	s := "Wasn't you? Open this link to sign out every device and lock the change out."
	if ttl != "" {
		s += fmt.Sprintf(" The link works once and is valid for %s.", ttl)
	}
	return s
}

// originLines is the "Request details" block, nil when nothing is known.
func originLines(ip, userAgent string) []string {
	if ip == "" && userAgent == "" {
		return nil
	}
	lines := []string{"Request details:"}
	if ip != "" {
		lines = append(lines, "IP address: "+ip)
	}
	if userAgent != "" {
		lines = append(lines, "Device: "+userAgent)
	}
	return lines
}
