package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scdtool/scd/publish"
	_ "github.com/scdtool/scd/publish/s3" // registers s3:// targets
)

// publishCommands are publish, activate, rollback, releases and prune.
//
// Exit codes (see also the publish package documentation):
//
//	0  done
//	1  the operation failed: a corrupt or missing build, an I/O error on
//	   the target (unwritable, disk full, unreachable)
//	2  usage: bad flags or arguments, an unknown release id, nothing to
//	   roll back to, the target locked by another publisher past
//	   --lock-timeout
//
// Whatever the code, a failed command leaves the target as it was.
func publishCommands(stdout, stderr io.Writer) []*cobra.Command {
	pub := &cobra.Command{
		Use:   "publish --from <build> --to <target>",
		Short: "Stage a finished build as a release of a target (and activate it with --activate)",
		Long: `publish verifies every file of a finished build against build.json, then
writes it as a new release of the target without touching the active one.
Files already in an earlier release are hard-linked, not written again.

A target is a directory or s3://bucket/prefix. With --activate the release
becomes the active one once it is complete.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, _ := cmd.Flags().GetString("from")
			if from == "" {
				return usageErr(stderr, errors.New("--from is required: the build directory to publish"))
			}
			tg, err := openTarget(cmd, stderr)
			if err != nil {
				return err
			}
			r, err := tg.Stage(cmd.Context(), from)
			if err != nil {
				return publishErr(stderr, err)
			}
			activate, _ := cmd.Flags().GetBool("activate")
			if activate {
				if err := tg.Activate(cmd.Context(), r.ID); err != nil {
					fmt.Fprintf(stderr, "scd: release %s is staged but was not activated\n", r.ID)
					return publishErr(stderr, err)
				}
				r.Status = publish.StatusActive
				r.Activated = time.Now().UTC()
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				writeJSON(stdout, r)
				return nil
			}
			verb := "staged"
			if activate {
				verb = "staged and activated"
			}
			fmt.Fprintf(stdout, "%s release %s of build %s on %s (%d files, %s)\n", verb, r.ID, r.Build, tg, r.Files, size(r.Size))
			return nil
		},
	}
	pub.Flags().String("from", "", "the finished build to publish (the directory holding build.json)")
	pub.Flags().Bool("activate", false, "activate the release once it is staged")
	pub.Flags().Int("keep-assets", publish.DefaultKeepAssets, "skew protection: also serve the hashed assets of this many previously active releases (0: none)")
	pub.Flags().Bool("json", false, "print the release as JSON on stdout")

	act := &cobra.Command{
		Use:   "activate <release> --to <target>",
		Short: "Make a staged release the active one, atomically",
		Args:  exactArgs(1, stderr),
		RunE: func(cmd *cobra.Command, args []string) error {
			tg, err := openTarget(cmd, stderr)
			if err != nil {
				return err
			}
			if err := tg.Activate(cmd.Context(), args[0]); err != nil {
				return publishErr(stderr, err)
			}
			fmt.Fprintf(stdout, "activated release %s on %s\n", args[0], tg)
			return nil
		},
	}
	act.Flags().Int("keep-assets", publish.DefaultKeepAssets, "skew protection: also serve the hashed assets of this many previously active releases (0: none)")

	rb := &cobra.Command{
		Use:   "rollback [<release>] --to <target>",
		Short: "Activate the previous good release (or the one named) and mark the active one bad",
		Args:  rangeArgs(0, 1, stderr),
		RunE: func(cmd *cobra.Command, args []string) error {
			tg, err := openTarget(cmd, stderr)
			if err != nil {
				return err
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			r, err := tg.Rollback(cmd.Context(), id)
			if err != nil {
				return publishErr(stderr, err)
			}
			fmt.Fprintf(stdout, "rolled back to release %s of build %s on %s\n", r.ID, r.Build, tg)
			return nil
		},
	}
	rb.Flags().Int("keep-assets", publish.DefaultKeepAssets, "skew protection: also serve the hashed assets of this many previously active releases (0: none)")

	ls := &cobra.Command{
		Use:   "releases --to <target>",
		Short: "List the releases of a target, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tg, err := openTarget(cmd, stderr)
			if err != nil {
				return err
			}
			rs, err := tg.Releases(cmd.Context())
			if err != nil {
				return publishErr(stderr, err)
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				if rs == nil {
					rs = []publish.Release{}
				}
				writeJSON(stdout, rs)
				return nil
			}
			printReleases(stdout, rs)
			return nil
		},
	}
	ls.Flags().Bool("json", false, "print the releases as a JSON array on stdout")

	prune := &cobra.Command{
		Use:   "prune --keep N --to <target>",
		Short: "Remove all but the newest N releases (never the active one or the one before it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("keep") {
				return usageErr(stderr, errors.New("--keep is required: how many of the newest releases to keep"))
			}
			keep, _ := cmd.Flags().GetInt("keep")
			if keep < 0 {
				return usageErr(stderr, fmt.Errorf("--keep must be 0 or more, not %d", keep))
			}
			tg, err := openTarget(cmd, stderr)
			if err != nil {
				return err
			}
			removed, err := tg.Prune(cmd.Context(), keep)
			if err != nil {
				return publishErr(stderr, err)
			}
			if len(removed) == 0 {
				fmt.Fprintf(stdout, "nothing to prune on %s\n", tg)
				return nil
			}
			fmt.Fprintf(stdout, "removed %d releases from %s: %s\n", len(removed), tg, strings.Join(removed, " "))
			return nil
		},
	}
	prune.Flags().Int("keep", 0, "how many of the newest releases to keep (the active one and the one before it are always kept)")
	prune.Flags().Int("max-deletes", 0, "s3:// targets: refuse (deleting nothing) to delete more shared objects (assets, indexes) than this (default 256; the same as ?max_deletes=)")

	cmds := []*cobra.Command{pub, act, rb, ls, prune}
	for _, c := range cmds {
		addTargetFlags(c.Flags())
	}
	return cmds
}

func addTargetFlags(f *pflag.FlagSet) {
	f.String("to", "", "the target: a directory, or s3://bucket/prefix")
	f.Duration("lock-timeout", publish.DefaultLockTimeout, "how long to wait for another publisher to finish")
	f.BoolP("verbose", "v", false, "log progress on stderr")
}

// openTarget opens --to with the options of the command's flags.
func openTarget(cmd *cobra.Command, stderr io.Writer) (publish.Target, error) {
	f := cmd.Flags()
	to, _ := f.GetString("to")
	if to == "" {
		return nil, usageErr(stderr, errors.New("--to is required: a directory or s3://bucket/prefix"))
	}
	var o publish.Options
	o.LockTimeout, _ = f.GetDuration("lock-timeout")
	if o.LockTimeout <= 0 {
		return nil, usageErr(stderr, fmt.Errorf("--lock-timeout must be positive, not %s", o.LockTimeout))
	}
	if f.Lookup("keep-assets") != nil {
		k, _ := f.GetInt("keep-assets")
		switch {
		case k < 0:
			return nil, usageErr(stderr, fmt.Errorf("--keep-assets must be 0 or more, not %d", k))
		case k == 0:
			o.KeepAssets = -1 // Options: negative disables; 0 would mean the default
		default:
			o.KeepAssets = k
		}
	}
	if f.Lookup("max-deletes") != nil && f.Changed("max-deletes") {
		n, _ := f.GetInt("max-deletes")
		var err error
		if to, err = withMaxDeletes(to, n); err != nil {
			return nil, usageErr(stderr, err)
		}
	}
	if v, _ := f.GetBool("verbose"); v {
		o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	tg, err := publish.Open(to, o)
	if err != nil {
		return nil, usageErr(stderr, err)
	}
	return tg, nil
}

// withMaxDeletes returns the s3:// URL to with max_deletes=n in its query
// (the flag wins over a max_deletes already there), which is how the
// s3 package's Config.MaxDeletes is set: publish.Options is common to
// every target and the cap only exists on S3.
//
// For a local target --max-deletes is an error rather than ignored: the
// local prune has no such cap (it removes release trees and the objects
// no remaining tree links, which cannot be shared with a live release),
// and a user asking for a safety limit must not believe they got one.
// Only prune deletes anything, so only prune has the flag.
func withMaxDeletes(to string, n int) (string, error) {
	if n < 1 {
		return "", fmt.Errorf("--max-deletes must be 1 or more, not %d", n)
	}
	u, err := url.Parse(to)
	if err != nil || !strings.Contains(to, "://") || !strings.EqualFold(u.Scheme, "s3") {
		return "", fmt.Errorf("--max-deletes applies to s3:// targets only; the local target %s has no delete cap", to)
	}
	q := u.Query()
	q.Set("max_deletes", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// publishErr reports err and picks its exit code.
func publishErr(stderr io.Writer, err error) error {
	fmt.Fprintf(stderr, "scd: %v\n", err)
	code := exitBuild
	switch {
	case errors.Is(err, publish.ErrUnknownRelease), errors.Is(err, publish.ErrLocked):
		code = exitConfig
	}
	return &exitError{code: code, err: err}
}

func usageErr(stderr io.Writer, err error) error {
	fmt.Fprintf(stderr, "scd: %v\n", err)
	return &exitError{code: exitConfig, err: err}
}

func exactArgs(n int, stderr io.Writer) cobra.PositionalArgs {
	return rangeArgs(n, n, stderr)
}

func rangeArgs(lo, hi int, stderr io.Writer) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		want := fmt.Sprintf("%d to %d arguments", lo, hi)
		switch {
		case lo == hi && lo == 1:
			want = "exactly 1 argument"
		case lo == 0 && hi == 1:
			want = "at most 1 argument"
		}
		return usageErr(stderr, fmt.Errorf("%s takes %s, got %d (usage: scd %s)", cmd.Name(), want, len(args), cmd.Use))
	}
}

// printReleases prints the history as a table, the active release marked.
func printReleases(w io.Writer, rs []publish.Release) {
	if len(rs) == 0 {
		fmt.Fprintln(w, "no releases")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tCREATED\tACTIVATED\tSTATUS\tFILES\tSIZE")
	for _, r := range rs {
		mark := " "
		if r.Status == publish.StatusActive {
			mark = "*"
		}
		activated := "-"
		if !r.Activated.IsZero() {
			activated = r.Activated.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\t%d\t%s\n", mark, r.ID, r.Created.UTC().Format(time.DateTime), activated, r.Status, r.Files, size(r.Size))
	}
	tw.Flush()
}
