// Package hooks holds the `deploy:` configuration of themes.yml and turns
// it into the inputs of the steps a deploy runs around the switch:
//
//   - hooks/warmup requests pages of the staged release (through its
//     preview address) and of the live one, and checks status and TTFB;
//   - hooks/flush invalidates the caches in front of the release, only for
//     the logical names whose content changed (flush.Diff);
//   - hooks/run runs the user's commands at pre_build, post_build,
//     pre_activate, post_deploy and on_failure.
//
// Every package takes plain option structs and a *slog.Logger and returns
// results; none prints or reads the environment, so the deploy command
// decides how progress looks and what a failure does (stop before the
// switch, roll back after it).
package hooks
