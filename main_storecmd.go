package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// addFunc does the work of an add subcommand with its parsed flags: the
// secret it prints alone on stdout, and a summary for stderr.
type addFunc func(dataDir string, log *slog.Logger) (secret, summary string, err error)

// storeCommand is the shape of `marbelle api-key` and `marbelle webhook`:
// on a stopped store, one subcommand adds (flags only), one lists, one
// removes by ID.
type storeCommand struct {
	name, help        string
	add, list, remove string // the subcommands' names
	removeWhat        string // what remove takes, e.g. "key ID"
	addFlags          func(fs *flag.FlagSet) addFunc
	runList           func(dataDir string, log *slog.Logger) (string, error)
	runRemove         func(dataDir, id string, log *slog.Logger) (string, error)
}

func (c storeCommand) run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprintln(stdout, c.help)
		return nil
	}
	if len(args) == 0 || (args[0] != c.add && args[0] != c.list && args[0] != c.remove) {
		fmt.Fprintln(stderr, c.help)
		return &exitError{code: 2, err: fmt.Errorf("%s: the subcommands are %s, %s and %s", c.name, c.add, c.list, c.remove)}
	}
	cmd := args[0]
	fs, dataDir := dataDirFlags(c.name+" "+cmd, c.help, getenv, stderr)
	var add addFunc
	if cmd == c.add {
		add = c.addFlags(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	log := cliLogger(stderr)
	var out string
	var err error
	switch cmd {
	case c.add:
		if fs.NArg() != 0 {
			fs.Usage()
			return &exitError{code: 2, err: fmt.Errorf("%s %s takes no arguments, only flags", c.name, c.add)}
		}
		secret, summary, err := add(*dataDir, log)
		if err != nil {
			return err
		}
		// The secret alone on stdout, so that S=$(marbelle … add …) works.
		fmt.Fprintln(stdout, secret)
		fmt.Fprint(stderr, summary)
		return nil
	case c.list:
		out, err = c.runList(*dataDir, log)
	default:
		if fs.NArg() != 1 {
			fs.Usage()
			return &exitError{code: 2, err: errors.New(c.name + " " + c.remove + ": name one " + c.removeWhat)}
		}
		out, err = c.runRemove(*dataDir, fs.Arg(0), log)
	}
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, out)
	return nil
}
