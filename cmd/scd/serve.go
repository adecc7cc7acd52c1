package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/serve"
)

// Defaults of the serve flags.
const (
	defaultServeAddr = ":8080"
	defaultAdminAddr = "127.0.0.1:9180"
)

// serveCommands are serve and canary.
//
// Exit codes: 0 done (serve: shut down on SIGTERM/SIGINT); 1 the server or
// the admin API failed; 2 usage (bad flags, an admin listener beyond
// loopback without a token, an unknown release).
func serveCommands(stdout, stderr io.Writer) []*cobra.Command {
	srv := &cobra.Command{
		Use:   "serve --root <dir>",
		Short: "Serve the active release of a local target, switching releases with zero downtime",
		Long: `serve answers HTTP requests from the release that <root>/current names
(the layout "scd publish --to <root>" writes): precompressed sidecars chosen by
Accept-Encoding, strong ETags, immutable caching for hashed names.

It notices an activation by watching current, on SIGHUP, and on POST /-/reload;
requests in flight finish on the release they started with. The admin API
(--admin-addr, loopback by default) holds requests during a deploy, previews
staged releases under /-/preview/<id>/, runs canaries and exposes /metrics.
SIGTERM shuts down gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, stdout, stderr)
		},
	}
	f := srv.Flags()
	f.String("root", "", "the local target to serve (holds current and releases/)")
	f.String("addr", defaultServeAddr, "public listen address (host:port, or unix:/path)")
	f.String("admin-addr", defaultAdminAddr, "admin API listen address; beyond loopback it requires --admin-token (\"\" disables)")
	f.String("admin-token", "", "bearer token required on the admin API (env SCD_ADMIN_TOKEN)")
	f.String("preview-addr", "", "listener for previews of any release: /-/preview/<id>/<path> or the X-Scd-Release header")
	f.Duration("hold-timeout", serve.DefaultHoldTimeout, "longest a hold may last: held requests proceed after this whatever happens")
	f.Duration("shutdown-timeout", 30*time.Second, "how long requests in flight may take to finish on SIGTERM")
	f.Duration("poll-interval", serve.DefaultPollInterval, "re-read current this often besides watching it (0 disables)")
	f.Int("keep-assets", publish.DefaultKeepAssets, "skew protection depth used when a canary is promoted")
	f.Bool("access-log", false, "log every request as JSON on stderr")
	f.BoolP("verbose", "v", false, "log switches, holds and canaries on stderr")

	canary := &cobra.Command{
		Use:   "canary",
		Short: "Route a share of clients to another release on a running scd serve",
		Args:  cobra.NoArgs,
	}
	start := &cobra.Command{
		Use:   "start <release> --percent N",
		Short: "Send N% of clients (sticky by cookie) to a staged release",
		Args:  exactArgs(1, stderr),
		RunE: func(cmd *cobra.Command, args []string) error {
			pct, _ := cmd.Flags().GetInt("percent")
			if pct < 1 || pct > 100 {
				return usageErr(stderr, fmt.Errorf("--percent must be 1 to 100, not %d", pct))
			}
			st, err := adminClient(cmd).StartCanary(cmd.Context(), args[0], pct)
			if err != nil {
				return adminErr(stderr, err)
			}
			fmt.Fprintf(stdout, "canary: %d%% of clients on release %s\n", st.Percent, st.Release)
			return nil
		},
	}
	start.Flags().Int("percent", 10, "share of clients sent to the release (1-100)")
	promote := &cobra.Command{
		Use:   "promote",
		Short: "Activate the canary release for everyone (an atomic switch on the target)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := adminClient(cmd).PromoteCanary(cmd.Context())
			if err != nil {
				return adminErr(stderr, err)
			}
			fmt.Fprintf(stdout, "promoted release %s\n", id)
			return nil
		},
	}
	abort := &cobra.Command{
		Use:   "abort",
		Short: "Send every client back to the active release",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ok, err := adminClient(cmd).AbortCanary(cmd.Context())
			if err != nil {
				return adminErr(stderr, err)
			}
			if ok {
				fmt.Fprintln(stdout, "canary aborted")
			} else {
				fmt.Fprintln(stdout, "no canary was running")
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Print the active, staged and canary releases and any hold, as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := adminClient(cmd).Status(cmd.Context())
			if err != nil {
				return adminErr(stderr, err)
			}
			writeJSON(stdout, st)
			return nil
		},
	}
	for _, c := range []*cobra.Command{start, promote, abort, status} {
		addAdminFlags(c.Flags())
		canary.AddCommand(c)
	}
	// `scd deploy --canary N` is ended by `scd promote` or `scd abort`.
	topPromote, topAbort := *promote, *abort
	topPromote.ResetFlags()
	topAbort.ResetFlags()
	addAdminFlags(topPromote.Flags())
	addAdminFlags(topAbort.Flags())
	return []*cobra.Command{srv, canary, &topPromote, &topAbort}
}

func addAdminFlags(f *pflag.FlagSet) {
	f.String("admin-addr", defaultAdminAddr, "the admin API of scd serve (host:port, or unix:/path)")
	f.String("admin-token", "", "bearer token of the admin API (env SCD_ADMIN_TOKEN)")
}

func adminToken(f *pflag.FlagSet) string {
	if tok, _ := f.GetString("admin-token"); tok != "" {
		return tok
	}
	return os.Getenv("SCD_ADMIN_TOKEN")
}

func adminClient(cmd *cobra.Command) *serve.Client {
	addr, _ := cmd.Flags().GetString("admin-addr")
	return &serve.Client{Addr: addr, Token: adminToken(cmd.Flags())}
}

// adminErr reports an admin API failure: an unknown release or a refused
// request is a usage error (2), anything else (unreachable) a failure (1).
func adminErr(stderr io.Writer, err error) error {
	fmt.Fprintf(stderr, "scd: %v\n", err)
	var ae *serve.APIError
	if errors.As(err, &ae) && ae.Code >= 400 && ae.Code < 500 {
		return &exitError{code: exitConfig, err: err}
	}
	return &exitError{code: exitBuild, err: err}
}

func runServe(cmd *cobra.Command, stdout, stderr io.Writer) error {
	f := cmd.Flags()
	root, _ := f.GetString("root")
	if root == "" {
		return usageErr(stderr, errors.New("--root is required: the directory scd publish --to writes"))
	}
	var o serve.Options
	o.Root = root
	o.HoldTimeout, _ = f.GetDuration("hold-timeout")
	if o.HoldTimeout <= 0 {
		return usageErr(stderr, fmt.Errorf("--hold-timeout must be positive, not %s", o.HoldTimeout))
	}
	o.PollInterval, _ = f.GetDuration("poll-interval")
	if o.PollInterval == 0 {
		o.PollInterval = -1
	}
	o.KeepAssets, _ = f.GetInt("keep-assets")
	if o.KeepAssets == 0 {
		o.KeepAssets = -1 // publish.Options: negative disables
	}
	level := slog.LevelWarn
	if v, _ := f.GetBool("verbose"); v {
		level = slog.LevelInfo
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if al, _ := f.GetBool("access-log"); al {
		o.AccessLog = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	var l serve.Listeners
	l.Addr, _ = f.GetString("addr")
	l.AdminAddr, _ = f.GetString("admin-addr")
	l.PreviewAddr, _ = f.GetString("preview-addr")
	l.AdminToken = adminToken(f)
	l.ShutdownTimeout, _ = f.GetDuration("shutdown-timeout")
	if l.AdminAddr != "" && l.AdminToken == "" && !serve.IsLocalAddr(l.AdminAddr) {
		return usageErr(stderr, fmt.Errorf("--admin-addr %s is reachable from other hosts: set --admin-token (or SCD_ADMIN_TOKEN)", l.AdminAddr))
	}
	s, err := serve.New(o)
	if err != nil {
		return usageErr(stderr, err)
	}
	defer s.Close()
	l.Ready = func(addr, admin, preview net.Addr) {
		fmt.Fprintf(stdout, "serving %s (release %s) on %s", root, orNone(s.ActiveID()), addr)
		if admin != nil {
			fmt.Fprintf(stdout, ", admin on %s", admin)
		}
		if preview != nil {
			fmt.Fprintf(stdout, ", preview on %s", preview)
		}
		fmt.Fprintln(stdout)
	}

	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	// run() turns SIGINT and SIGTERM into ctx's end; SIGHUP re-reads current.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(hup) }()
	go func() {
		for range hup {
			if _, err := s.Reload(); err != nil {
				o.Logger.Error("reload on SIGHUP", "err", err)
			}
		}
	}()
	if err := s.Run(ctx, l); err != nil {
		fmt.Fprintf(stderr, "scd: %v\n", err)
		return &exitError{code: exitBuild, err: err}
	}
	return nil
}

func orNone(id string) string {
	if id == "" {
		return "none yet"
	}
	return id
}
