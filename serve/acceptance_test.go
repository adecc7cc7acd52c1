package serve

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAcceptanceSwitchUnderLoad is the acceptance test: many
// keep-alive clients on loopback while 50 activations alternate between two
// real releases of the sample (built by the builder, staged and activated by
// the local publisher). Half the activations go the deploy's way (hold,
// activate, reload through the admin API, release), half are only noticed
// by the file watch. Every response must be 200 or 304 with the bytes of
// the release that answered, no connection may fail, and every asset that
// a served page or manifest references must answer 200.
func TestAcceptanceSwitchUnderLoad(t *testing.T) {
	x := stageTarget(t)
	s := newTestServer(t, x.root, Options{PollInterval: 50 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	var addr, admin net.Addr
	ready := make(chan struct{})
	runErr := make(chan error, 1)
	go func() {
		runErr <- s.Run(ctx, Listeners{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
			Ready: func(a, b, _ net.Addr) { addr, admin = a, b; close(ready) }})
	}()
	<-ready
	adminCall := func(method, path, body string) map[string]any {
		req, _ := http.NewRequest(method, "http://"+admin.String()+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v map[string]any
		json.NewDecoder(res.Body).Decode(&v)
		if res.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, v)
		}
		return v
	}

	l := &load{base: "http://" + addr.String(), x: x, strict: true, clients: 32}
	lctx, lstop := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	go func() { l.run(lctx); close(loaded) }()

	time.Sleep(200 * time.Millisecond)
	for i := range 50 {
		id := x.ids[(i+1)%2]
		if i%2 == 0 {
			adminCall("POST", "/-/hold", `{"timeout":"10s"}`)
			if err := x.tg.Activate(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			if v := adminCall("POST", "/-/reload", ""); v["active"] != id {
				t.Fatalf("reload: %v, want %s", v, id)
			}
			adminCall("DELETE", "/-/hold", "")
		} else {
			if err := x.tg.Activate(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for s.ActiveID() != id {
				if time.Now().After(deadline) {
					t.Fatalf("activation %d of %s not noticed", i, id)
				}
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	lstop()
	<-loaded
	stop()
	if err := <-runErr; err != nil {
		t.Errorf("Run: %v", err)
	}
	l.report(t)
	if len(l.seenReleases) != 2 {
		t.Errorf("responses came from %v, want both releases", l.seenReleases)
	}
	if l.requests.Load() < 1000 {
		t.Errorf("only %d requests: the load did not load", l.requests.Load())
	}
	if c := l.conns.Load(); c > int64(l.clients*4) {
		t.Errorf("%d connections for %d clients: keep-alive broken", c, l.clients)
	}
}

// TestAcceptanceCanaryPromote: a canary of B under load, promoted through
// the admin API (which activates B on the target), then everyone is on B.
func TestAcceptanceCanaryPromote(t *testing.T) {
	x := stageTarget(t)
	s := newTestServer(t, x.root, Options{})
	if _, err := s.StartCanary(x.ids[1], 50); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	seen := map[string]int{}
	for i := range 100 {
		res := get(t, h, "/frontend/Acme/shop/en_US/template/product.html", "Cookie", "scd_bucket="+itoa(i))
		seen[res.Header.Get(ReleaseHeader)]++
	}
	if seen[x.ids[0]] != 50 || seen[x.ids[1]] != 50 {
		t.Errorf("canary split %v, want 50/50", seen)
	}
	id, err := s.PromoteCanary(context.Background())
	if err != nil || id != x.ids[1] {
		t.Fatalf("promote: %q, %v", id, err)
	}
	if act, _ := x.tg.Releases(context.Background()); act[1].Status != "active" {
		t.Errorf("history after promote: %+v", act)
	}
	if s.canary.Load() != nil {
		t.Error("canary still running after promotion")
	}
	res := get(t, h, "/frontend/Acme/shop/en_US/template/product.html", "Cookie", "scd_bucket=99")
	if !strings.Contains(body(t, res), "Basket") {
		t.Error("B not served to everyone after promotion")
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
