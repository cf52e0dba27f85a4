// Package console is the operator console's page: plain HTML and ES modules, served by the API at /console/.
// Every action it offers is an /v1/ops route a script can call with the operator token too.
package console

import "embed"

// Files are the page's files.
//
//go:embed index.html app.js api.js style.css
var Files embed.FS
