package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/scdtool/scd/publish"
)

func init() {
	publish.Register("s3", func(u *url.URL, o publish.Options) (publish.Target, error) {
		cfg, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return New(cfg, o)
	})
}

// Defaults for Config.
const (
	DefaultWorkers      = 16
	DefaultMaxDeletes   = 256
	DefaultMaxRetries   = 5
	DefaultCacheControl = "public, max-age=60, must-revalidate"
	DefaultStaleLock    = 2 * time.Minute
	// ImmutableCacheControl is sent with every hashed asset: its name
	// changes whenever its content does.
	ImmutableCacheControl = "public, max-age=31536000, immutable"
)

// Config describes an S3 target. ParseURL fills it from a URL and the
// environment; tests build it directly.
type Config struct {
	Bucket string
	Prefix string // no leading or trailing slash; "" is the bucket root
	// Endpoint is a URL (http://127.0.0.1:9000) or a host; "" means AWS.
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	Token     string
	// PathStyle addresses the bucket as endpoint/bucket rather than
	// bucket.endpoint (needed by most self-hosted servers).
	PathStyle bool

	Workers      int // parallel uploads and deletes
	MaxDeletes   int // Prune refuses to delete more objects than this
	MaxRetries   int // attempts per request (1 = no retry)
	CacheControl string
	StaleLock    time.Duration
	// RetryBase is the first backoff delay (default 100ms); doubling, capped
	// at 5s, with full jitter.
	RetryBase time.Duration

	// Transport, when set, carries every request (tests count PUTs with it).
	Transport http.RoundTripper
}

// ParseURL reads s3://bucket/prefix?query plus the AWS environment
// variables; query parameters win over the environment.
func ParseURL(u *url.URL) (Config, error) {
	cfg := Config{
		Bucket:    u.Host,
		Prefix:    strings.Trim(u.Path, "/"),
		Endpoint:  firstEnv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		Region:    firstEnv("AWS_REGION", "AWS_DEFAULT_REGION"),
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Token:     os.Getenv("AWS_SESSION_TOKEN"),
	}
	if cfg.Bucket == "" {
		return cfg, fmt.Errorf("target %s: no bucket (want s3://bucket/prefix)", u.Redacted())
	}
	q := u.Query()
	if v := q.Get("endpoint"); v != "" {
		cfg.Endpoint = v
	}
	if v := q.Get("region"); v != "" {
		cfg.Region = v
	}
	if v := q.Get("cache_control"); v != "" {
		cfg.CacheControl = v
	}
	ints := map[string]*int{"workers": &cfg.Workers, "max_deletes": &cfg.MaxDeletes, "max_retries": &cfg.MaxRetries}
	for name, dst := range ints {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				// 0 would silently mean the default (Config's zero value).
				return cfg, fmt.Errorf("target %s: %s=%q is not a positive integer", u.Redacted(), name, v)
			}
			*dst = n
		}
	}
	if v := q.Get("path_style"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("target %s: path_style=%q is not a boolean", u.Redacted(), v)
		}
		cfg.PathStyle = b
	}
	return cfg, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// Target is a publish.Target on an S3 bucket. Its methods are safe for
// concurrent use by one process; across processes the lock serialises
// publishers.
type Target struct {
	cfg    Config
	opt    publish.Options
	client *minio.Client
	name   string // s3://bucket/prefix
	secure bool   // https endpoint
}

var _ publish.Target = (*Target)(nil)

// New returns a target for cfg. It does not contact the server: the first
// operation reports an unreachable endpoint or wrong credentials.
func New(cfg Config, o publish.Options) (*Target, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 target: no bucket")
	}
	cfg.Prefix = strings.Trim(cfg.Prefix, "/")
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxDeletes <= 0 {
		cfg.MaxDeletes = DefaultMaxDeletes
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.CacheControl == "" {
		cfg.CacheControl = DefaultCacheControl
	}
	if cfg.StaleLock <= 0 {
		cfg.StaleLock = DefaultStaleLock
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 100 * time.Millisecond
	}
	host, secure := "s3.amazonaws.com", true
	if cfg.Region != "" && cfg.Endpoint == "" {
		host = "s3." + cfg.Region + ".amazonaws.com"
	}
	if cfg.Endpoint != "" {
		e := cfg.Endpoint
		if !strings.Contains(e, "://") {
			e = "https://" + e
		}
		eu, err := url.Parse(e)
		if err != nil || eu.Host == "" {
			return nil, fmt.Errorf("s3 target: endpoint %q is not a URL", cfg.Endpoint)
		}
		host, secure = eu.Host, eu.Scheme == "https"
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.Token)
	} else {
		// Anonymous: a public bucket can still be read; writes fail with
		// AccessDenied, reported as such.
		creds = credentials.New(&credentials.Static{})
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	transport := cfg.Transport
	if transport == nil {
		tr, err := minio.DefaultTransport(secure)
		if err != nil {
			return nil, err
		}
		tr.MaxIdleConnsPerHost = cfg.Workers * 2
		transport = tr
	}
	client, err := minio.New(host, &minio.Options{
		Creds: creds, Secure: secure, Region: cfg.Region, BucketLookup: lookup,
		Transport: transport,
		// Retries are ours (retry below): one policy, visible in tests,
		// bounded by MaxRetries instead of the library's 10.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 target: %w", err)
	}
	name := "s3://" + cfg.Bucket
	if cfg.Prefix != "" {
		name += "/" + cfg.Prefix
	}
	return &Target{cfg: cfg, opt: o.WithDefaults(), client: client, name: name, secure: secure}, nil
}

// String returns s3://bucket/prefix.
func (t *Target) String() string { return t.name }

// key returns the object key of a path relative to the prefix.
func (t *Target) key(p string) string {
	if t.cfg.Prefix == "" {
		return p
	}
	return t.cfg.Prefix + "/" + p
}

// retry runs op until it succeeds, fails permanently, or MaxRetries
// attempts are spent, sleeping base·2^n (capped, full jitter) in between.
func (t *Target) retry(ctx context.Context, what string, op func() error) error {
	var err error
	delay := t.cfg.RetryBase
	for attempt := 1; ; attempt++ {
		if err = ctx.Err(); err != nil {
			return err
		}
		err = op()
		if err == nil || !retryable(err) || attempt >= t.cfg.MaxRetries {
			break
		}
		t.opt.Logger.Debug("s3 retry", "op", what, "attempt", attempt, "err", err)
		sleep := time.Duration(rand.Int64N(int64(delay))) + delay/2
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sleep):
		}
		delay = min(delay*2, 5*time.Second)
	}
	if err != nil {
		return t.explain(what, err)
	}
	return nil
}

// retryable reports whether err may go away by itself: network trouble,
// throttling and server errors.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	r := errResp(err)
	if r.StatusCode != 0 {
		return r.StatusCode >= 500 || r.StatusCode == http.StatusTooManyRequests ||
			r.Code == "SlowDown" || r.Code == "RequestTimeout"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF)
}

// explain wraps err with the target and, for the errors users meet when
// setting up, a hint.
func (t *Target) explain(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s: %w", t.name, what, err)
	}
	r := errResp(err)
	hint := ""
	switch r.Code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		hint = " (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy)"
	case "NoSuchBucket":
		hint = " (the bucket does not exist; scd does not create it)"
	}
	if r.StatusCode == 0 && retryable(err) {
		hint = fmt.Sprintf(" (endpoint unreachable after %d attempts; check AWS_ENDPOINT_URL or ?endpoint=)", t.cfg.MaxRetries)
	}
	return fmt.Errorf("%s: %s: %w%s", t.name, what, err, hint)
}

// object is what put uploads.
type object struct {
	key          string // relative to the prefix
	data         []byte // or file
	file         string
	contentType  string
	encoding     string
	cacheControl string
}

// put uploads one object, reading file afresh on every attempt.
func (t *Target) put(ctx context.Context, o object) error {
	return t.retry(ctx, "upload "+o.key, func() error {
		var r io.Reader
		size := int64(len(o.data))
		if o.file != "" {
			f, err := os.Open(o.file)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			r, size = f, st.Size()
		} else {
			r = bytes.NewReader(o.data)
		}
		ct := o.contentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		_, err := t.client.PutObject(ctx, t.cfg.Bucket, t.key(o.key), r, size, minio.PutObjectOptions{
			ContentType: ct, ContentEncoding: o.encoding, CacheControl: o.cacheControl,
			// Files of a static build are small; one PUT keeps uploads
			// atomic and their count predictable.
			DisableMultipart: size < 64<<20,
			// Over plain http the client would otherwise sign in
			// aws-chunked streaming mode, and some servers (Versity
			// 1.8) then store "aws-chunked" in Content-Encoding, which
			// browsers reject. Content-MD5 keeps the upload checked.
			DisableContentSha256: !t.secure,
			SendContentMd5:       !t.secure,
		})
		return err
	})
}

// copyFrom makes o.key a server-side copy of src (a key relative to the
// prefix): no bytes leave this machine, which is how Stage fills a release
// directory with the files the previous release already holds. Headers are
// replaced, not copied, so that a changed Config.CacheControl applies to
// the new release as it would to an upload.
func (t *Target) copyFrom(ctx context.Context, src string, o object) error {
	return t.retry(ctx, "copy "+src+" to "+o.key, func() error {
		ct := o.contentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		_, err := t.client.CopyObject(ctx,
			minio.CopyDestOptions{Bucket: t.cfg.Bucket, Object: t.key(o.key), ReplaceMetadata: true,
				ContentType: ct, ContentEncoding: o.encoding, CacheControl: o.cacheControl},
			minio.CopySrcOptions{Bucket: t.cfg.Bucket, Object: t.key(src)})
		return err
	})
}

// putJSON uploads a small control object.
func (t *Target) putJSON(ctx context.Context, key string, data []byte) error {
	return t.put(ctx, object{key: key, data: data, contentType: "application/json", cacheControl: "no-cache"})
}

// get returns the content of key; a missing object wraps fs.ErrNotExist.
func (t *Target) get(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := t.retry(ctx, "read "+key, func() error {
		obj, err := t.client.GetObject(ctx, t.cfg.Bucket, t.key(key), minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer obj.Close()
		data, err = io.ReadAll(obj)
		return err
	})
	if err != nil && isNotFound(err) {
		return nil, fmt.Errorf("%s/%s: %w", t.name, key, fs.ErrNotExist)
	}
	return data, err
}

func isNotFound(err error) bool {
	r := errResp(err)
	return r.Code == "NoSuchKey" || (r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket")
}

// list returns the keys (relative to the prefix) under dir, recursively.
func (t *Target) list(ctx context.Context, dir string) ([]string, error) {
	var keys []string
	err := t.retry(ctx, "list "+dir, func() error {
		keys = keys[:0]
		full := t.key(dir)
		for o := range t.client.ListObjects(ctx, t.cfg.Bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
			if o.Err != nil {
				return o.Err
			}
			keys = append(keys, strings.TrimPrefix(strings.TrimPrefix(o.Key, t.cfg.Prefix), "/"))
		}
		return nil
	})
	return keys, err
}

// listDirs returns the names of the "directories" right under dir.
func (t *Target) listDirs(ctx context.Context, dir string) ([]string, error) {
	var names []string
	err := t.retry(ctx, "list "+dir, func() error {
		names = names[:0]
		full := t.key(dir)
		for o := range t.client.ListObjects(ctx, t.cfg.Bucket, minio.ListObjectsOptions{Prefix: full}) {
			if o.Err != nil {
				return o.Err
			}
			if strings.HasSuffix(o.Key, "/") {
				names = append(names, path.Base(o.Key))
			}
		}
		return nil
	})
	return names, err
}

// remove deletes one object; a missing object is not an error.
func (t *Target) remove(ctx context.Context, key string) error {
	return t.retry(ctx, "delete "+key, func() error {
		err := t.client.RemoveObject(ctx, t.cfg.Bucket, t.key(key), minio.RemoveObjectOptions{})
		if err != nil && isNotFound(err) {
			return nil
		}
		return err
	})
}

// errResp returns the S3 error response inside err (wrapped or not); the
// zero value for other errors.
func errResp(err error) minio.ErrorResponse {
	var r minio.ErrorResponse
	if errors.As(err, &r) {
		return r
	}
	return minio.ErrorResponse{}
}
