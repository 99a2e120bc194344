module github.com/vmxemu/vmxemu

go 1.26
