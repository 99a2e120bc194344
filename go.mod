module github.com/vmxemu/vmxemu

go 1.26

require (
	github.com/bnagy/gapstone v0.0.0-20190828052830-ede92aaeaba7
	github.com/stretchr/testify v1.11.1
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
