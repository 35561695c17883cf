module tapbeat/tests/lumberjack

go 1.19

require github.com/elastic/go-lumber v0.1.0

require github.com/klauspost/compress v1.15.15 // indirect
