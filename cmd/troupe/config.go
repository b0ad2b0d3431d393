package main

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// envFlag defines a string flag --name whose default comes from the
// environment variable TROUPE_NAME (dashes become underscores), else def.
// Flags win over the environment, as the design's configuration table says.
func envFlag(fs *pflag.FlagSet, p *string, name, def, usage string) {
	env := "TROUPE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if v, ok := os.LookupEnv(env); ok && v != "" {
		def = v
	}
	fs.StringVar(p, name, def, usage+" (env "+env+")")
}
