// Command citysim measures the status book and the import pipeline at city
// scale. It generates N registered persons with valid resident IDs straight
// into a freshly migrated database (multi-row inserts, as createPerson and
// the lab's results would have left them), and lists, then prints:
//
//  1. the heap the status book takes per person after a cold load, at each N
//     (step heap);
//  2. the time a fresh node takes to load the book cold, at each N (heap);
//  3. the wall time and RSS growth of a 2,000,000-row import through the
//     pipeline (Store.NewStatusImport + RunStatusImport), from a CSV on disk
//     (import);
//  4. how long a change of 100,000 people takes to reach a second node (its
//     own pool and book, polling as serve does) (delta);
//  5. show-code and verify p99 at rest and during a 1,000,000-row import
//     posted to the server started on the city (load; the load harness,
//     scripts/loadtest -addr).
//
// Usage:
//
//	go run ./scripts/citysim -db mysql -n 1000000,5000000 -steps heap,import,delta,load
//	go run ./scripts/citysim -db sqlite -n 5000,20000 -import-rows 8000 -delta-rows 2000
//	go run ./scripts/citysim -db mysql -n 5000000 -keep
//	go run ./scripts/citysim -db mysql -reuse /tmp/citysim-… -steps load
//
// With -db mysql it creates and drops its own database on the local
// MariaDB (healthcode_citysim by default; 127.0.0.1 only; -keep keeps it);
// every query it runs itself is a short one. All traffic goes to 127.0.0.1.
// It stops by itself after -timeout. It is not part of go test; its
// generator's tests are.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata"

	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"healthcode/config"
	"healthcode/models"
	"healthcode/models/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "citysim:", err)
		os.Exit(1)
	}
}

type options struct {
	db            string
	dsn           string
	sizes         []uint32
	importRows    int
	deltaRows     int
	poll          time.Duration
	batch         int
	keep          bool
	reuse         string
	steps         map[string]bool
	loadRows      int
	loadFor       time.Duration
	timeout       time.Duration
	cpuProfile    string
	serverProfile string
}

func run() error {
	var o options
	flag.StringVar(&o.db, "db", "mysql", "database: mysql or sqlite")
	flag.StringVar(&o.dsn, "dsn", "root@tcp(127.0.0.1:3306)/healthcode_citysim", "MySQL DSN (on 127.0.0.1; its database is created and dropped)")
	sizes := flag.String("n", "1000000,5000000", "registered persons: the city grows through each size in turn, measured at each")
	flag.IntVar(&o.importRows, "import-rows", 2_000_000, "rows of the timed import (half registered people)")
	flag.IntVar(&o.deltaRows, "delta-rows", 100_000, "registered people the propagated change touches")
	flag.DurationVar(&o.poll, "poll", 2*time.Second, "how often the second node polls the change log (serve: 2s)")
	flag.IntVar(&o.batch, "batch", 1000, "persons a generating insert writes")
	flag.BoolVar(&o.keep, "keep", false, "keep the database and files afterwards (their directory is printed)")
	flag.StringVar(&o.reuse, "reuse", "", "use the city an earlier -keep run left in this directory (and, with mysql, the -dsn database) instead of generating one; -n is ignored")
	steps := flag.String("steps", "heap,import,delta", "steps to run: heap (heap and cold start at each size), import, delta, load (show-code and verify p99 at rest and during an import: starts the server)")
	flag.IntVar(&o.loadRows, "load-import-rows", 1_000_000, "rows of the import posted during the load run")
	flag.DurationVar(&o.loadFor, "load-duration", 10*time.Second, "how long the load harness drives each target")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Hour, "stop after this long")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed import to this file")
	flag.StringVar(&o.serverProfile, "server-profile", "", "load step: write a 30 s CPU profile of the server during the import to this file")
	flag.Parse()
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 1000 || (len(o.sizes) > 0 && uint32(n) <= o.sizes[len(o.sizes)-1]) {
			return fmt.Errorf("-n: %q is not a growing list of sizes of at least 1000", *sizes)
		}
		o.sizes = append(o.sizes, uint32(n))
	}
	o.steps = map[string]bool{}
	for _, step := range strings.Split(*steps, ",") {
		if step = strings.TrimSpace(step); step != "heap" && step != "import" && step != "delta" && step != "load" {
			return fmt.Errorf("-steps: %q is not heap, import, delta or load", step)
		}
		o.steps[step] = true
	}
	if o.importRows < 1 || o.importRows > 2_000_000 || o.deltaRows < 1 {
		return errors.New("-import-rows must be 1 … 2,000,000 (the import limit) and -delta-rows positive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	if o.db != "mysql" && o.db != "sqlite" {
		return fmt.Errorf("-db: %q is not mysql or sqlite", o.db)
	}
	work, dsn, err := o.city(ctx)
	if err != nil {
		return err
	}
	if o.reuse == "" && !o.keep {
		defer os.RemoveAll(work)
		if o.db == "mysql" {
			defer dropDatabase(o.dsn)
		}
	}

	// Keys as a developer's server has them (generated at random in the
	// data directory), so a server started on the same directory (-load)
	// finds the generated people by their documents.
	cfg := config.Default()
	cfg.DataDir = filepath.Join(work, "data")
	keys, err := config.LoadKeys(cfg)
	if err != nil {
		return err
	}
	vault, err := models.NewVault(keys.Encryption, keys.Hash)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return err
	}
	c := &city{o: o, dsn: dsn, work: work, vault: vault, loc: loc, keys: keys, queries: &queryProfile{}}
	db, err := c.open(ctx, 8)
	if err != nil {
		return err
	}
	defer store.CloseDB(db)
	if _, err := store.Migrate(ctx, db, models.SystemClock{}); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	c.db = db
	c.store = store.NewStore(db, vault, models.SystemClock{}, loc)

	fmt.Printf("citysim %s: %s, database %s %s\n", time.Now().Format("2006-01-02 15:04"), describeMachine(), o.db, c.serverVersion(ctx))
	return c.measure(ctx)
}

// city returns the directory and DSN of the city: a new one (a fresh
// database with -db mysql), or the one -reuse names.
func (o options) city(ctx context.Context) (work, dsn string, err error) {
	if o.reuse != "" {
		work = o.reuse
		if _, err := os.Stat(filepath.Join(work, "data", "keys")); err != nil {
			return "", "", fmt.Errorf("-reuse: %s holds no city kept by -keep: %w", work, err)
		}
		if o.db == "mysql" {
			cfg, server, err := serverOf(o.dsn)
			if err != nil {
				return "", "", err
			}
			server.Close()
			return work, cfg.FormatDSN(), nil
		}
		return work, filepath.Join(work, "city.db"), nil
	}
	if work, err = os.MkdirTemp("", "citysim-"); err != nil {
		return "", "", err
	}
	if o.keep {
		fmt.Println("files kept in", work)
	}
	if o.db == "mysql" {
		dsn, err = createDatabase(ctx, o.dsn)
		return work, dsn, err
	}
	return work, filepath.Join(work, "city.db"), nil
}

// city is one simulated city: its database, keys and what was measured.
type city struct {
	o       options
	dsn     string
	work    string
	vault   *models.Vault
	loc     *time.Location
	keys    config.KeyMaterial
	db      *gorm.DB
	store   *store.Store
	queries *queryProfile
	n       uint32
	// report collects the figures, printed together at the end.
	report []string
}

// open opens a pool of its own on the city's database (each node has one),
// logging queries slower than slowQuery.
func (c *city) open(ctx context.Context, conns int) (*gorm.DB, error) {
	db, err := store.OpenDB(ctx, store.DBOptions{Driver: c.o.db, DSN: c.dsn, MaxOpenConns: conns})
	if err != nil {
		return nil, err
	}
	if err := c.queries.watch(db); err != nil {
		store.CloseDB(db)
		return nil, err
	}
	return db, nil
}

func (c *city) serverVersion(ctx context.Context) string {
	var v string
	if c.o.db == "mysql" {
		c.db.WithContext(ctx).Raw("SELECT VERSION()").Scan(&v)
	} else {
		c.db.WithContext(ctx).Raw("SELECT sqlite_version()").Scan(&v)
	}
	return v
}

func (c *city) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Println(line)
	c.report = append(c.report, line)
}

// measure runs the steps asked for in turn and prints the figures
// together.
func (c *city) measure(ctx context.Context) error {
	var book *models.StatusBook
	if c.o.reuse != "" {
		if err := c.db.WithContext(ctx).Raw("SELECT COALESCE(MAX(no), 0) FROM persons").Scan(&c.n).Error; err != nil {
			return err
		}
		c.printf("reusing the city in %s: %d registered persons, with the lists an earlier run left in force", c.o.reuse, c.n)
	} else {
		gen := &generator{db: c.db, vault: c.vault, now: time.Now().UTC(), mysql: c.o.db == "mysql", batch: c.o.batch}
		for _, size := range c.o.sizes {
			if err := c.grow(ctx, gen, size); err != nil {
				return err
			}
			if c.o.steps["heap"] {
				book = nil
				var err error
				if book, err = c.heapAndColdStart(ctx); err != nil {
					return err
				}
			}
		}
		if err := gen.seedLists(ctx, c.n); err != nil {
			return fmt.Errorf("seed the disease-control list: %w", err)
		}
	}
	if book == nil && (c.o.steps["import"] || c.o.steps["delta"]) {
		// The node the imports run on holds the book, as a server does.
		book = models.NewStatusBook()
		if err := c.store.RefreshStatus(ctx, book); err != nil {
			return err
		}
	}
	if c.o.steps["import"] {
		if err := c.timedImport(ctx, book); err != nil {
			return err
		}
	}
	if c.o.steps["delta"] {
		if err := c.propagation(ctx, book); err != nil {
			return err
		}
	}
	if c.o.steps["load"] {
		book = nil
		runtime.GC()
		if err := c.loadDuringImport(ctx); err != nil {
			return err
		}
	}
	fmt.Println("\n== figures ==")
	for _, line := range c.report {
		fmt.Println(line)
	}
	return nil
}

// grow generates persons up to size.
func (c *city) grow(ctx context.Context, gen *generator, size uint32) error {
	start := time.Now()
	last := time.Now()
	fmt.Printf("generating persons %d … %d\n", c.n+1, size)
	err := gen.generate(ctx, c.n, size, func(done uint32) {
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			fmt.Printf("  %d persons written, %.0f/s\n", done, float64(done)/time.Since(start).Seconds())
		}
	})
	if err != nil {
		return fmt.Errorf("generate persons: %w", err)
	}
	fmt.Printf("  %d persons in %s (%.0f/s)\n", size-c.n, time.Since(start).Round(time.Second), float64(size-c.n)/time.Since(start).Seconds())
	c.n = size
	return nil
}

// createDatabase creates the DSN's database afresh on 127.0.0.1 and
// returns the DSN.
func createDatabase(ctx context.Context, dsn string) (string, error) {
	cfg, server, err := serverOf(dsn)
	if err != nil {
		return "", err
	}
	defer server.Close()
	for _, q := range []string{"DROP DATABASE IF EXISTS `" + cfg.DBName + "`", "CREATE DATABASE `" + cfg.DBName + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"} {
		if _, err := server.ExecContext(ctx, q); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
	}
	return cfg.FormatDSN(), nil
}

func dropDatabase(dsn string) {
	cfg, server, err := serverOf(dsn)
	if err != nil {
		return
	}
	defer server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := server.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+cfg.DBName+"`"); err != nil {
		fmt.Fprintln(os.Stderr, "citysim: drop database:", err)
	}
}

// serverOf parses dsn (which must name a database on 127.0.0.1) and opens
// its server without a database.
func serverOf(dsn string) (*mysqldriver.Config, *sql.DB, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasPrefix(cfg.Addr, "127.0.0.1:") || cfg.DBName == "" || strings.ContainsAny(cfg.DBName, "`'\" ") {
		return nil, nil, errors.New("citysim uses a named database on 127.0.0.1 only")
	}
	server := *cfg
	server.DBName = ""
	db, err := sql.Open("mysql", server.FormatDSN())
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

// describeMachine names the machine size for the report.
func describeMachine() string {
	mem := ""
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(raw), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/1024/1024)
	}
	return fmt.Sprintf("%d cores%s, %s", runtime.NumCPU(), mem, runtime.Version())
}
