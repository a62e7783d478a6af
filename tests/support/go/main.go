// Command cognate-go-sdk drives Cognate with the official AWS SDK for Go
// (v1), as a Go app would: the guest flow (GetId, GetCredentialsForIdentity)
// and the developer flow (GetOpenIdTokenForDeveloperIdentity, signed with an
// operator's access key, then GetCredentialsForIdentity with the token), and
// uses both sets of credentials with the SDK's S3 client on radosgw.
//
// It prints what it saw as one JSON object on stdout and exits 0, or prints
// what went wrong on stderr and exits 1. Built by tests/sts/go_sdk.rs in
// GOPATH mode against Debian's golang-github-aws-aws-sdk-go-dev:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o cognate-go-sdk .
//
// Every flag can also be given in the environment variable named in its
// help text.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/cognitoidentity"
	"github.com/aws/aws-sdk-go/service/s3"
)

// cognitoLogin is the Logins key of a Cognito (developer) OpenID token.
const cognitoLogin = "cognito-identity.amazonaws.com"

type options struct {
	endpoint, region, s3Endpoint string
	pool, devProvider, devUser   string
	accessKey, secretKey         string
	guestBucket, devBucket       string
}

func stringFlag(p *string, name, env, def, help string) {
	if v := os.Getenv(env); v != "" {
		def = v
	}
	flag.StringVar(p, name, def, help+" ($"+env+")")
}

func parseOptions() options {
	var o options
	stringFlag(&o.endpoint, "endpoint", "COGNATE_ENDPOINT", "", "Cognate's URL")
	stringFlag(&o.region, "region", "COGNATE_REGION", "us-east-1", "the region")
	stringFlag(&o.s3Endpoint, "s3-endpoint", "COGNATE_S3_ENDPOINT", "", "radosgw's URL")
	stringFlag(&o.pool, "pool", "COGNATE_POOL", "", "an identity pool allowing guests, with a developer provider")
	stringFlag(&o.devProvider, "developer-provider", "COGNATE_DEVELOPER_PROVIDER", "", "the pool's developer provider name")
	stringFlag(&o.devUser, "developer-user", "COGNATE_DEVELOPER_USER", "gopher", "the developer user identifier")
	stringFlag(&o.accessKey, "access-key", "COGNATE_ACCESS_KEY", "", "an operator's access key (signs the developer call)")
	stringFlag(&o.secretKey, "secret-key", "COGNATE_SECRET_KEY", "", "its secret")
	stringFlag(&o.guestBucket, "guest-bucket", "COGNATE_GUEST_BUCKET", "", "a bucket the unauthenticated role may create and use")
	stringFlag(&o.devBucket, "developer-bucket", "COGNATE_DEVELOPER_BUCKET", "", "a bucket the authenticated role may create and use")
	flag.Parse()
	for _, required := range []struct{ name, value string }{
		{"-endpoint", o.endpoint}, {"-s3-endpoint", o.s3Endpoint}, {"-pool", o.pool},
		{"-developer-provider", o.devProvider}, {"-access-key", o.accessKey},
		{"-secret-key", o.secretKey}, {"-guest-bucket", o.guestBucket},
		{"-developer-bucket", o.devBucket},
	} {
		if required.value == "" {
			fail("missing %s (see -help)", required.name)
		}
	}
	return o
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "cognate-go-sdk: "+format+"\n", args...)
	os.Exit(1)
}

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// newSession returns an SDK session for endpoint with these credentials, the
// shared config files ignored (the environment's keys are overridden).
func newSession(o options, endpoint string, creds *credentials.Credentials) *session.Session {
	sess, err := session.NewSessionWithOptions(session.Options{
		SharedConfigState: session.SharedConfigDisable,
		Config: aws.Config{
			Endpoint:    aws.String(endpoint),
			Region:      aws.String(o.region),
			Credentials: creds,
			HTTPClient:  &http.Client{Timeout: 30 * time.Second},
		},
	})
	check(err, "session for "+endpoint)
	return sess
}

// errorCode is the awserr code of err, or "" when it has none.
func errorCode(err error) string {
	var aerr awserr.Error
	if errors.As(err, &aerr) {
		return aerr.Code()
	}
	return ""
}

// claims are the payload of a JWT, not verified (radosgw does that).
func claims(token string) map[string]interface{} {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		fail("the OpenID token has %d parts, not 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	check(err, "the OpenID token's payload")
	var c map[string]interface{}
	check(json.Unmarshal(payload, &c), "the OpenID token's claims")
	return c
}

type guestResult struct {
	IdentityID            string `json:"identityId"`
	CredentialsIdentityID string `json:"credentialsIdentityId"`
	AccessKeyID           string `json:"accessKeyId"`
	Expiration            string `json:"expiration"`
	Bucket                string `json:"bucket"`
	Body                  string `json:"body"`
}

// useS3 creates bucket, writes and reads an object in it with these
// Cognate-issued credentials through the SDK's S3 client; returns the body.
func useS3(o options, c *cognitoidentity.Credentials, bucket, body string) string {
	client := s3Client(o, c)
	_, err := client.CreateBucket(&s3.CreateBucketInput{Bucket: aws.String(bucket)})
	check(err, "S3 CreateBucket "+bucket)
	_, err = client.PutObject(&s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("hello.txt"),
		Body:   bytes.NewReader([]byte(body)),
	})
	check(err, "S3 PutObject "+bucket+"/hello.txt")
	got, err := client.GetObject(&s3.GetObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("hello.txt"),
	})
	check(err, "S3 GetObject "+bucket+"/hello.txt")
	defer got.Body.Close()
	read, err := io.ReadAll(got.Body)
	check(err, "reading "+bucket+"/hello.txt")
	if string(read) != body {
		fail("S3 GetObject %s/hello.txt gave %q, not %q", bucket, read, body)
	}
	return string(read)
}

func s3Client(o options, c *cognitoidentity.Credentials) *s3.S3 {
	creds := credentials.NewStaticCredentials(
		aws.StringValue(c.AccessKeyId), aws.StringValue(c.SecretKey), aws.StringValue(c.SessionToken))
	return s3.New(newSession(o, o.s3Endpoint, creds), aws.NewConfig().WithS3ForcePathStyle(true))
}

// credentialsOf checks what GetCredentialsForIdentity answered for id.
func credentialsOf(out *cognitoidentity.GetCredentialsForIdentityOutput, id, what string) *cognitoidentity.Credentials {
	if got := aws.StringValue(out.IdentityId); got != id {
		fail("%s: GetCredentialsForIdentity answered for identity %q, asked for %q", what, got, id)
	}
	c := out.Credentials
	if c == nil || aws.StringValue(c.AccessKeyId) == "" || aws.StringValue(c.SecretKey) == "" ||
		aws.StringValue(c.SessionToken) == "" || c.Expiration == nil {
		fail("%s: incomplete credentials: %v", what, c)
	}
	if left := time.Until(*c.Expiration); left < 10*time.Minute {
		fail("%s: the credentials expire in %v", what, left)
	}
	return c
}

func main() {
	o := parseOptions()
	operator := credentials.NewStaticCredentials(o.accessKey, o.secretKey, "")
	cognito := cognitoidentity.New(newSession(o, o.endpoint, operator))
	result := map[string]interface{}{}

	// 1. A guest: GetId and GetCredentialsForIdentity are unsigned (the SDK
	// sends them with anonymous credentials), as in an app without keys.
	id, err := cognito.GetId(&cognitoidentity.GetIdInput{IdentityPoolId: aws.String(o.pool)})
	check(err, "GetId (guest)")
	guestID := aws.StringValue(id.IdentityId)
	if !strings.HasPrefix(guestID, o.region+":") {
		fail("GetId (guest) gave the identity id %q", guestID)
	}
	out, err := cognito.GetCredentialsForIdentity(&cognitoidentity.GetCredentialsForIdentityInput{
		IdentityId: aws.String(guestID),
	})
	check(err, "GetCredentialsForIdentity (guest)")
	guest := credentialsOf(out, guestID, "guest")
	result["guest"] = guestResult{
		IdentityID:            guestID,
		CredentialsIdentityID: aws.StringValue(out.IdentityId),
		AccessKeyID:           aws.StringValue(guest.AccessKeyId),
		Expiration:            guest.Expiration.UTC().Format(time.RFC3339),
		Bucket:                o.guestBucket,
		Body:                  useS3(o, guest, o.guestBucket, "hello from the Go SDK, guest"),
	}

	// 2. A developer identity: the app's backend asks for a token (signed
	// with the operator's key), the app trades it for credentials.
	devInput := &cognitoidentity.GetOpenIdTokenForDeveloperIdentityInput{
		IdentityPoolId: aws.String(o.pool),
		Logins:         map[string]*string{o.devProvider: aws.String(o.devUser)},
	}
	dev, err := cognito.GetOpenIdTokenForDeveloperIdentity(devInput)
	check(err, "GetOpenIdTokenForDeveloperIdentity")
	devID := aws.StringValue(dev.IdentityId)
	token := aws.StringValue(dev.Token)
	if devID == "" || token == "" || devID == guestID {
		fail("GetOpenIdTokenForDeveloperIdentity gave identity %q (guest %q) and token %q", devID, guestID, token)
	}
	tokenClaims := claims(token)
	if tokenClaims["sub"] != devID || tokenClaims["aud"] != o.pool {
		fail("the developer token's sub/aud are %v/%v, not %s/%s", tokenClaims["sub"], tokenClaims["aud"], devID, o.pool)
	}
	again, err := cognito.GetOpenIdTokenForDeveloperIdentity(devInput)
	check(err, "GetOpenIdTokenForDeveloperIdentity (again)")
	if got := aws.StringValue(again.IdentityId); got != devID {
		fail("the same developer login gave identity %q, then %q", devID, got)
	}
	out, err = cognito.GetCredentialsForIdentity(&cognitoidentity.GetCredentialsForIdentityInput{
		IdentityId: aws.String(devID),
		Logins:     map[string]*string{cognitoLogin: aws.String(token)},
	})
	check(err, "GetCredentialsForIdentity (developer)")
	developer := credentialsOf(out, devID, "developer")
	devResult := map[string]interface{}{
		"identityId":            devID,
		"identityIdAgain":       aws.StringValue(again.IdentityId),
		"tokenSub":              tokenClaims["sub"],
		"tokenAud":              tokenClaims["aud"],
		"tokenAmr":              tokenClaims["amr"],
		"credentialsIdentityId": aws.StringValue(out.IdentityId),
		"accessKeyId":           aws.StringValue(developer.AccessKeyId),
		"expiration":            developer.Expiration.UTC().Format(time.RFC3339),
		"bucket":                o.devBucket,
		"body":                  useS3(o, developer, o.devBucket, "hello from the Go SDK, developer"),
	}
	// The authenticated role is not the guests': their bucket is closed to it.
	_, err = s3Client(o, developer).PutObject(&s3.PutObjectInput{
		Bucket: aws.String(o.guestBucket),
		Key:    aws.String("intruder.txt"),
		Body:   bytes.NewReader([]byte("no")),
	})
	if err == nil {
		fail("the developer identity's credentials could write to the guests' bucket %s", o.guestBucket)
	}
	devResult["guestBucketError"] = errorCode(err)
	result["developer"] = devResult

	// 3. Errors reach the app as awserr codes.
	errorCodes := map[string]string{}
	_, err = cognito.GetId(&cognitoidentity.GetIdInput{
		IdentityPoolId: aws.String(o.region + ":00000000-0000-4000-8000-000000000000"),
	})
	if err == nil {
		fail("GetId on a pool that does not exist succeeded")
	}
	var notFound *cognitoidentity.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		fail("GetId on a pool that does not exist: %T %v, not a *ResourceNotFoundException", err, err)
	}
	errorCodes["getIdOfAMissingPool"] = errorCode(err)
	wrongSecret := cognitoidentity.New(newSession(o, o.endpoint,
		credentials.NewStaticCredentials(o.accessKey, o.secretKey+"-wrong", "")))
	_, err = wrongSecret.GetOpenIdTokenForDeveloperIdentity(devInput)
	if err == nil {
		fail("GetOpenIdTokenForDeveloperIdentity signed with a wrong secret succeeded")
	}
	errorCodes["developerTokenWithAWrongSecret"] = errorCode(err)
	result["errors"] = errorCodes

	check(json.NewEncoder(os.Stdout).Encode(result), "writing the result")
}
