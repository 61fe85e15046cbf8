// Command benchbaseline is the yardstick of scripts/bench: the least a
// durable webhook receiver does. It serves POST /notify with gin, parses
// the WeChat Pay v2 XML body, inserts one row into SQLite (WAL, one writer
// connection, synchronous as asked) or PostgreSQL (a pool) through gorm,
// and answers SUCCESS. No signature check, no state machine, no outbox.
//
//	benchbaseline -addr 127.0.0.1:0 -driver sqlite -dsn bare.db -sync FULL
//
// It prints "listening on http://ADDR" once it serves.
package main

import (
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/paygate/paygate/store"
)

// Received is the one row written per notification.
type Received struct {
	ID         string `gorm:"primaryKey;size:32"`
	OutTradeNo string `gorm:"size:64"`
	Body       []byte
	ReceivedAt time.Time
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	driver := flag.String("driver", "sqlite", "sqlite or postgres")
	dsn := flag.String("dsn", "bare.db", "SQLite file or PostgreSQL DSN")
	sync := flag.String("sync", "FULL", "SQLite synchronous: FULL or NORMAL")
	pool := flag.Int("pool", 20, "PostgreSQL connections")
	flag.Parse()

	db, err := open(*driver, *dsn, *sync, *pool)
	if err != nil {
		log.Fatal(err)
	}
	if err := db.AutoMigrate(&Received{}); err != nil {
		log.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/notify", func(c *gin.Context) {
		body, err := io.ReadAll(io.LimitReader(c.Request.Body, 256<<10))
		if err != nil {
			c.String(http.StatusBadRequest, "unreadable")
			return
		}
		fields, err := parseXML(body)
		if err != nil {
			c.String(http.StatusBadRequest, "malformed")
			return
		}
		row := Received{ID: store.NewID("rcv"), OutTradeNo: fields["out_trade_no"], Body: body, ReceivedAt: time.Now().UTC()}
		if err := db.WithContext(c.Request.Context()).Create(&row).Error; err != nil {
			c.String(http.StatusInternalServerError, "store")
			return
		}
		c.Data(http.StatusOK, "text/xml", []byte("<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"))
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, r))
}

func open(driver, dsn, sync string, pool int) (*gorm.DB, error) {
	cfg := &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, PrepareStmt: true}
	switch driver {
	case "sqlite":
		if sync != "FULL" && sync != "NORMAL" {
			return nil, fmt.Errorf("-sync must be FULL or NORMAL, got %q", sync)
		}
		db, err := gorm.Open(sqlite.Open("file:"+dsn+"?_journal_mode=WAL&_busy_timeout=10000&_synchronous="+sync+"&_txlock=immediate"), cfg)
		if err != nil {
			return nil, err
		}
		sdb, _ := db.DB()
		sdb.SetMaxOpenConns(1)
		return db, nil
	case "postgres":
		db, err := gorm.Open(postgres.Open(dsn), cfg)
		if err != nil {
			return nil, err
		}
		sdb, _ := db.DB()
		sdb.SetMaxOpenConns(pool)
		sdb.SetMaxIdleConns(pool)
		return db, nil
	}
	return nil, fmt.Errorf("unknown driver %q", driver)
}

// parseXML reads a flat WeChat v2 document into a map.
func parseXML(body []byte) (map[string]string, error) {
	d := xml.NewDecoder(strings.NewReader(string(body)))
	out := map[string]string{}
	var key string
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				key = t.Name.Local
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 2 {
				out[key] += string(t)
			}
		}
	}
}
