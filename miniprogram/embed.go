// Package miniprogram carries the mini-program kit (plain ES modules) and the simulator page, so dev can serve
// them: the simulator runs the kit's own code in a browser.
package miniprogram

import "embed"

// Files holds the kit's modules (index.js and what it imports), legacy/ and simulator/.
//
//go:embed *.js legacy simulator
var Files embed.FS
