// A Lumberjack v2 (Beats protocol) server for the tests of output.logstash, built on
// Elastic's own implementation (github.com/elastic/go-lumber, package server/v2).
// Every event of every batch is written as one JSON line to -out, then the batch is
// acknowledged. "listening on ADDR" on stdout says it is ready.
//
//	lumberjack -addr 127.0.0.1:5044 -out events.ndjson [-tls-cert C -tls-key K]
//	           [-ack-delay 50ms] [-exit-after-batches N]
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	v2 "github.com/elastic/go-lumber/server/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5044", "listen address")
	out := flag.String("out", "", "file the events are appended to, one JSON line each")
	cert := flag.String("tls-cert", "", "certificate (PEM): serve TLS")
	key := flag.String("tls-key", "", "key of -tls-cert (PEM)")
	ackDelay := flag.Duration("ack-delay", 0, "wait this long before acknowledging each batch")
	exitAfter := flag.Int("exit-after-batches", 0, "exit without acknowledging the Nth batch (0: never)")
	flag.Parse()

	// Numbers kept as written (64-bit counters exceed a float64's precision).
	decode := func(b []byte, v interface{}) error {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		return d.Decode(v)
	}
	opts := []v2.Option{v2.Keepalive(time.Second), v2.JSONDecoder(decode)}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			log.Fatalf("tls: %v", err)
		}
		opts = append(opts, v2.TLS(&tls.Config{Certificates: []tls.Certificate{pair}}))
	}
	srv, err := v2.ListenAndServe(*addr, opts...)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatalf("open: %v", err)
	}
	w := bufio.NewWriter(f)
	fmt.Printf("listening on %s\n", *addr)
	os.Stdout.Sync()
	batches := 0
	for b := range srv.ReceiveChan() {
		batches++
		if *exitAfter > 0 && batches == *exitAfter {
			w.Flush()
			os.Exit(3) // the batch is never acknowledged: the client must send it again
		}
		for _, e := range b.Events {
			line, err := json.Marshal(e)
			if err != nil {
				log.Fatalf("event: %v", err)
			}
			w.Write(line)
			w.WriteByte('\n')
		}
		w.Flush()
		if *ackDelay > 0 {
			time.Sleep(*ackDelay)
		}
		b.ACK()
	}
}
