// Command scd builds the static content of multi-theme, multi-locale web
// front ends: `scd --threads 8 --matrix themes.yml`.
package main

import "os"

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
