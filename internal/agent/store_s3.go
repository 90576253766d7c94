package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Store keeps backups in an S3-compatible bucket, under a prefix.
type S3Store struct {
	client *minio.Client
	bucket string
	prefix string // "" or ending in '/'
}

var _ Store = (*S3Store)(nil)

// s3MaxRetries bounds the client's retries of throttled or failed requests: enough for a busy
// server, few enough that an unreachable endpoint fails the Job in seconds rather than minutes.
const s3MaxRetries = 4

// NewS3Store connects (lazily: no request is made here) to the bucket the options name.
func NewS3Store(o S3Options) (*S3Store, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil {
		return nil, fail(ReasonInvalidArguments, "%s=%q: %v", FlagS3Endpoint, o.Endpoint, err)
	}
	lookup := minio.BucketLookupDNS
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	region := o.Region
	if region == "" {
		region = defaultRegion
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(o.AccessKeyID, o.SecretAccessKey, ""),
		Secure:       u.Scheme == "https",
		Region:       region, // set, so the client does not ask the bucket for its location first
		BucketLookup: lookup,
		MaxRetries:   s3MaxRetries,
	})
	if err != nil {
		return nil, fail(ReasonInvalidArguments, "S3 endpoint %q: %v", o.Endpoint, err)
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3Store{client: client, bucket: o.Bucket, prefix: prefix}, nil
}

// Put uploads the object; S3 makes it visible only once complete, multipart uploads included.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	contentType := "application/octet-stream"
	if strings.HasSuffix(key, ".json") {
		contentType = "application/json"
	}
	info, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, r, size, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return s.error(key, err)
	}
	if size >= 0 && info.Size != size {
		return fmt.Errorf("uploaded %d bytes of %d to %s", info.Size, size, s.Location(key))
	}
	return nil
}

// Get opens the object with a plain GET, at once: unlike a HEAD request, whose error responses
// have no body, the GET's error says why it failed (a server may answer 404 to an unknown access
// key, which a HEAD would turn into "no such object").
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	body, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.error(key, err)
	}
	return s3Reader{body, s, key}, nil
}

// List lists every key under the prefix.
func (s *S3Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, s.error(prefix, obj.Err)
		}
		keys = append(keys, strings.TrimPrefix(obj.Key, s.prefix))
	}
	return keys, nil
}

// Delete removes the object; S3 reports success for a missing one.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		return s.error(key, err)
	}
	return nil
}

// Location is s3://bucket/prefix/key.
func (s *S3Store) Location(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

// error explains an S3 error in the user's terms: refused credentials (ErrUnauthorized), a missing
// object (ErrNotFound), a missing bucket, or the server's own words. The server's messages do not
// repeat the secret key, which the client only uses to sign.
func (s *S3Store) error(key string, err error) error {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return fmt.Errorf("S3 request for %s failed: %w", s.Location(key), err)
	}
	switch resp.Code {
	case "NoSuchKey":
		return fmt.Errorf("%s: %w", s.Location(key), ErrNotFound)
	case "NoSuchBucket":
		return fmt.Errorf("bucket %q does not exist (create it, or fix the destination's bucket)", s.bucket)
	case "InvalidAccessKeyId", "XAdminUserNotFound": // the latter is versitygw's, without IAM
		return fmt.Errorf("%w: S3 does not know the access key ID (%s): check %s in the destination's credentials Secret",
			ErrUnauthorized, resp.Code, SecretKeyAccessKeyID)
	case "SignatureDoesNotMatch":
		return fmt.Errorf("%w: S3 rejected the secret access key (%s): check %s in the destination's credentials Secret",
			ErrUnauthorized, resp.Code, SecretKeySecretAccessKey)
	case "AccessDenied", "InvalidToken", "ExpiredToken", "AllAccessDisabled", "AccountProblem":
		return fmt.Errorf("%w: S3 refused access to bucket %q (%s: %s): the credentials need to list, read, write and delete objects there",
			ErrUnauthorized, s.bucket, resp.Code, resp.Message)
	}
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%w: S3 refused access to bucket %q (HTTP %d %s: %s)", ErrUnauthorized, s.bucket, resp.StatusCode, resp.Code, resp.Message)
	}
	return fmt.Errorf("S3 request for %s failed (%s): %s", s.Location(key), resp.Code, resp.Message)
}

// s3Reader translates errors met while reading an object.
type s3Reader struct {
	obj io.ReadCloser
	s   *S3Store
	key string
}

func (r s3Reader) Read(p []byte) (int, error) {
	n, err := r.obj.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.error(r.key, err)
	}
	return n, err
}

func (r s3Reader) Close() error { return r.obj.Close() }
