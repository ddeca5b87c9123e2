module csrgate.dev/gocsr

go 1.19
