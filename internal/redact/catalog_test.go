package redact

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Test credentials: random, of each vendor's published shape.
const (
	ghp      = "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngXyZ12345ab"
	ghPAT    = "github_pat_11ABCDEFG0abcdefghijkl_MNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL"
	glpat    = "glpat-Ab3dEf9hIj2lMn0pQr5t"
	slack    = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
	stripe   = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
	google   = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
	npm      = "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
	pypi     = "pypi-AgEIcHlwaS5vcmcCJDkyYTU3ZjY0LTM1YjYtNDgzNS04NWNmLTAxYWQ0NDQyZjU1ZQACKlszLCJmOGY"
	azureKey = "Kq1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R9s0T1u2V3w4X5y6Z7a8B9c0D1e2F3g4H5i6J7k8L9m0N1o2P=="
	entra    = "abc8Q~Zy1xW2vU3tS4rQ5pO6nM7lK8jI9hG0fE"
)

func TestCatalogDetectors(t *testing.T) {
	s := allDetectors(t)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"github classic", "export GH_TOKEN=" + ghp, "export GH_TOKEN=[REDACTED:github-token]"},
		{"github fine-grained", "token: " + ghPAT, "token: [REDACTED:github-token]"},
		{"github prefix in prose", "the ghp_ prefix marks a classic token", "the ghp_ prefix marks a classic token"},
		{"github too short", "ghp_abc123", "ghp_abc123"},
		{"gitlab", "git clone https://oauth2:" + glpat + "@gitlab.com/a/b.git", "git clone https://oauth2:[REDACTED:url-password]@gitlab.com/a/b.git"},
		{"gitlab alone", "GITLAB " + glpat, "GITLAB [REDACTED:gitlab-token]"},
		{"slack bot", "SLACK_BOT=" + slack, "SLACK_BOT=[REDACTED:slack-token]"},
		{"slack webhook", "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx", "https://[REDACTED:slack-token]"},
		{"stripe", "key " + stripe, "key [REDACTED:stripe-key]"},
		{"stripe publishable stays", "pk_live_4eC39HqLyjWDarjtT1zdp7dc", "pk_live_4eC39HqLyjWDarjtT1zdp7dc"},
		{"google", "?key=" + google + "&q=x", "?key=[REDACTED:google-api-key]&q=x"},
		{"google client secret", "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", "[REDACTED:google-api-key]"},
		{"azure storage", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + azureKey + ";EndpointSuffix=core.windows.net",
			"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=[REDACTED:azure-key];EndpointSuffix=core.windows.net"},
		{"entra client secret", "secret value " + entra + " expires", "secret value [REDACTED:azure-key] expires"},
		{"npm", "//registry.npmjs.org/:_authToken=" + npm, "//registry.npmjs.org/:_authToken=[REDACTED:npm-token]"},
		{"pypi", "password = " + pypi, "password = [REDACTED:pypi-token]"},
		{"basic auth", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [REDACTED:basic-auth]"},
		{"curl basic", `curl -H "authorization: basic YWRtaW46aHVudGVyMg==" https://x`, `curl -H "authorization: basic [REDACTED:basic-auth]" https://x`},
		{"basic in prose", "basic training and Basic Income", "basic training and Basic Income"},
		{"url password", "DATABASE_URL=postgres://admin:S3cr3tPassw0rd@db.example.com:5432/app", "DATABASE_URL=postgres://admin:[REDACTED:url-password]@db.example.com:5432/app"},
		{"url without password", "see http://example.com:8080/x?a=b:c@d", "see http://example.com:8080/x?a=b:c@d"},
		{"password assignment", "DB_PASSWORD=hunter2hunter2", "DB_PASSWORD=[REDACTED:secret-field]"},
		{"json password, quoted whole", `{"password": "correct horse"}`, `{"password": "[REDACTED:secret-field]"}`},
		{"redis url, no user", "redis://:S3cretP4ssw0rd@cache:6379/0", "redis://:[REDACTED:url-password]@cache:6379/0"},
		{"url password with an @", "postgres://u:p@ss%w0rd@db.example.com/app", "postgres://u:[REDACTED:url-password]@db.example.com/app"},
		{"authorization token scheme", "Authorization: Token hunter2hunter2", "Authorization: Token [REDACTED:secret-field]"},
		{"yaml value on the next line", "db:\n  password:\n    hunter2hunter2\n  user: app", "db:\n  password:\n    [REDACTED:secret-field]\n  user: app"},
		{"yaml block scalar", "password: |\n  hunter2hunter2\n", "password: |\n  [REDACTED:secret-field]\n"},
		{"php array", "'password' => 'hunter2hunter2',", "'password' => '[REDACTED:secret-field]',"},
		{"command-line flag", "mysql --password hunter2hunter2 -u app", "mysql --password [REDACTED:secret-field] -u app"},
		{"command-line flag with =", "psql --db-password=hunter2hunter2", "psql --db-password=[REDACTED:secret-field]"},
		{"xml element", "<password>hunter2hunter2</password>", "<password>[REDACTED:secret-field]</password>"},
		{"a combining grapheme joiner inside a token", "t " + ghp[:12] + "\u034f" + ghp[12:], "t [REDACTED:github-token]"},
		{"a variation selector inside a token", "t " + ghp[:12] + "\ufe0f" + ghp[12:], "t [REDACTED:github-token]"},
		{"any authorization scheme", "Authorization: SSWS 00abcdefghijklmnop", "Authorization: SSWS [REDACTED:secret-field]"},
		{"a cookie header whole", "Cookie: _ga=GA1; sessionid=s3cr3tvalue1", "Cookie: [REDACTED:secret-field]"},
		{"a name with a digit", "PASSWORD1=hunter2hunter2", "PASSWORD1=[REDACTED:secret-field]"},
		{"a yaml list under a secret", "passwords:\n  - hunter2secret\n", "passwords:\n  - [REDACTED:secret-field]\n"},
		{"a yaml tag", "password: !!str hunter2secret", "password: !!str [REDACTED:secret-field]"},
		{"xml with attributes", `<password type="plain">hunter2secret</password>`, `<password type="plain">[REDACTED:secret-field]</password>`},
		{"a user with an encoded @", "postgres://jane%40corp.com:s3cretpass@db.host/x", "postgres://[REDACTED:email]:[REDACTED:url-password]@db.host/x"},
		{"a flag of prose", "use --password-file instead", "use --password-file instead"},
		{"client secret yaml", "client_secret: abcdef123456", "client_secret: [REDACTED:aws-secret-access-key]"}, // the older detector's name
		{"db password yaml", "db_password: abcdef123456", "db_password: [REDACTED:secret-field]"},
		{"camel api key", `apiKey="0123456789abcdef"`, `apiKey="[REDACTED:secret-field]"`},
		{"access token", "access_token=ya29_not_google_shape_1234", "access_token=[REDACTED:secret-field]"},
		{"a token count is not a secret", "max_tokens: 409600, input_tokens=123456", "max_tokens: 409600, input_tokens=123456"},
		{"a page token is not a secret", `{"nextToken": "eyJsYXN0IjoxMjN9"}`, `{"nextToken": "eyJsYXN0IjoxMjN9"}`},
		{"a password policy in prose", "password: must be 12 characters", "password: must be 12 characters"},
		{"authorization scheme kept", "Authorization: Bearer abcdefgh12345", "Authorization: Bearer [REDACTED:bearer-token]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := Counts{}
			if got := s.String(tc.in, counts); got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"client_secret": true, "ClientSecret": true, "CLIENT_SECRET": true, "client-secret": true, "clientSecret": true,
		"password": true, "DB_PASSWORD": true, "passwd": true, "secret_access_key": true, "SecretAccessKey": true,
		"api_key": true, "apiKey": true, "APIKey": true, "x-api-key": true, "apikey": true, "token": true, "access_token": true,
		"refreshToken": true, "private_key": true, "credentials": true, "Authorization": true, "db_pass": true,
		"key": false, "keyName": false, "max_tokens": false, "nextToken": false, "NextContinuationToken": false, "page_token": false,
		"auth": true, "SecretBinary": true, "apiKeys": true, "app_key": true, "PASSWORD1": true,
		"pass_word": true, "PassPhrase": true, "passwords": true, "passcode": true, "secret_key_base": true, "password_value": true, "Cookie": true,
		"progressToken": false, "ClientToken": false, "passport": false, "token_count": false,
		"pass": false, "secretary": false, "tokenizer": false, "author": false, "sort_key": false, "passage": false,
	} {
		if got := SecretName(name); got != want {
			t.Errorf("SecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestWholeMessage: a secret split across content items is found whole; a
// secret written as a member name is redacted in the name; every value
// under a member named like a secret is redacted whatever its shape; the
// answer keeps its structure.
func TestWholeMessage(t *testing.T) {
	s := allDetectors(t)
	for _, tc := range []struct{ name, in, want string }{
		{"a token split across two content items",
			`{"content":[{"type":"text","text":"token ` + ghp[:20] + `"},{"type":"text","text":"` + ghp[20:] + ` end"}]}`,
			`{"content":[{"text":"token [REDACTED:github-token]","type":"text"},{"text":"[REDACTED:github-token] end","type":"text"}]}`},
		{"a key block across items",
			`{"content":[{"type":"text","text":"-----BEGIN RSA PRIVATE KEY-----"},{"type":"text","text":"MIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"}]}`,
			`{"content":[{"text":"[REDACTED:private-key]","type":"text"},{"text":"[REDACTED:private-key]","type":"text"}]}`},
		{"a key across two embedded resources",
			`{"content":[{"type":"resource","resource":{"uri":"file:///a","text":"-----BEGIN OPENSSH PRIVATE KEY-----"}},{"type":"resource","resource":{"uri":"file:///b","text":"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQy\n-----END OPENSSH PRIVATE KEY-----"}}]}`,
			`{"content":[{"resource":{"text":"[REDACTED:private-key]","uri":"file:///a"},"type":"resource"},{"resource":{"text":"[REDACTED:private-key]","uri":"file:///b"},"type":"resource"}]}`},
		{"a token across a text and a resource", `{"content":[{"type":"text","text":"` + ghp[:20] + `"},{"type":"resource","resource":{"uri":"file:///b","text":"` + ghp[20:] + `"}}]}`,
			`{"content":[{"text":"[REDACTED:github-token]","type":"text"},{"resource":{"text":"[REDACTED:github-token]","uri":"file:///b"},"type":"resource"}]}`},
		{"a sampling request's messages", `{"messages":[{"role":"user","content":{"type":"text","text":"` + ghp[:20] + `"}},{"role":"user","content":{"type":"text","text":"` + ghp[20:] + `"}}]}`,
			`{"messages":[{"content":{"text":"[REDACTED:github-token]","type":"text"},"role":"user"},{"content":{"text":"[REDACTED:github-token]","type":"text"},"role":"user"}]}`},
		{"a key's body and END line alone", `{"content":[{"type":"text","text":"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQy\n-----END OPENSSH PRIVATE KEY-----\nok"}]}`,
			`{"content":[{"text":"[REDACTED:private-key]\nok","type":"text"}]}`},
		{"an SSM parameter", `{"Parameter":{"Name":"/prod/db/password","Type":"SecureString","Value":"Tr0ub4dor3xyz"}}`,
			`{"Parameter":{"Name":"/prod/db/password","Type":"SecureString","Value":"[REDACTED:secret-field]"}}`},
		{"a container's environment", `{"env":[{"name":"DB_PASSWORD","value":"Tr0ub4dor3xyz"},{"name":"LOG_LEVEL","value":"debug-all"}]}`,
			`{"env":[{"name":"DB_PASSWORD","value":"[REDACTED:secret-field]"},{"name":"LOG_LEVEL","value":"debug-all"}]}`},
		{"a key block across two members", `{"header":"-----BEGIN RSA PRIVATE KEY-----","key_body":"MIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----","n":1}`,
			`{"header":"[REDACTED:private-key]","key_body":"[REDACTED:private-key]","n":1}`},
		{"a secret as a member name", `{"` + accessKeyID + `":"x"}`, `{"[REDACTED:aws-access-key-id]":"x"}`},
		{"two names redacted alike", `{"a-` + ghp + `":1,"b-` + ghp + `":2}`, ``},
		{"a token split across three items, an image among them",
			`{"content":[{"type":"text","text":"token ` + ghp[:10] + `"},{"type":"image","data":"AAAA","mimeType":"image/png"},{"type":"text","text":"` + ghp[10:15] + `"},{"type":"text","text":"` + ghp[15:] + `"}]}`,
			`{"content":[{"text":"token [REDACTED:github-token]","type":"text"},{"data":"AAAA","mimeType":"image/png","type":"image"},{"text":"[REDACTED:github-token]","type":"text"},{"text":"[REDACTED:github-token]","type":"text"}]}`},
		{"a list of values is not run together", `{"supportedVersions":["2026-07-28","2025-11-25","2025-06-18","2025-03-26"]}`,
			`{"supportedVersions":["2026-07-28","2025-11-25","2025-06-18","2025-03-26"]}`},
		{"a schema's parameters are not secrets",
			`{"tools":[{"name":"login","inputSchema":{"type":"object","properties":{"password":{"type":"string","minLength":8},"token":{"type":"integer"}},"required":["password"]}}],"_meta":{"progressToken":42}}`,
			`{"_meta":{"progressToken":42},"tools":[{"inputSchema":{"properties":{"password":{"minLength":8,"type":"string"},"token":{"type":"integer"}},"required":["password"],"type":"object"},"name":"login"}]}`},
		{"a schema member name smuggles nothing", `{"structuredContent":{"outputSchema":{"password":"hunter2secret"}}}`,
			`{"structuredContent":{"outputSchema":{"password":"[REDACTED:secret-field]"}}}`},
		{"a secret parameter's default is masked", `{"tools":[{"inputSchema":{"type":"object","properties":{"db_password":{"type":"string","default":"hunter2secret"}}}}]}`,
			`{"tools":[{"inputSchema":{"properties":{"db_password":{"default":"[REDACTED:secret-field]","type":"string"}},"type":"object"}}]}`},
		{"a secret's nested number keeps its type", `{"credentials":{"key":"k-1","expiresAt":1712345678},"password":12345678}`,
			`{"credentials":{"expiresAt":1712345678,"key":"[REDACTED:secret-field]"},"password":"[REDACTED:secret-field]"}`},
		{"secret-named members, any shape", `{"structuredContent":{"ClientSecret":"abc","db":{"password":12345678,"user":"app"},"credentials":{"user":"u","key":["k1","k2"]},"api_key":"","enabled":true}}`,
			`{"structuredContent":{"ClientSecret":"[REDACTED:secret-field]","api_key":"","credentials":{"key":["[REDACTED:secret-field]","[REDACTED:secret-field]"],"user":"[REDACTED:secret-field]"},"db":{"password":"[REDACTED:secret-field]","user":"app"},"enabled":true}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tc.in), &v); err != nil {
				t.Fatal(err)
			}
			counts := Counts{}
			v = s.Value(v, counts)
			out, _ := json.Marshal(v)
			if tc.want == "" {
				if strings.Contains(string(out), ghp) || strings.Count(string(out), "[REDACTED:github-token]") != 2 {
					t.Errorf("got %s", out)
				}
				return
			}
			if string(out) != tc.want {
				t.Errorf("\n got %s\nwant %s", out, tc.want)
			}
		})
	}
}

// FuzzSplitName holds splitName to the byte-by-byte split it replaced.
func FuzzSplitName(f *testing.F) {
	for _, s := range []string{"ClientSecret", "client_secret", "CLIENT_SECRET", "apiKey", "APIKey", "db-pass2", "x", "", "__a__B__", "a1B2cD", "\xffÄb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		var want []string
		var cur []byte
		flush := func() {
			if len(cur) > 0 {
				want = append(want, string(cur))
				cur = cur[:0]
			}
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			switch {
			case isLower(c) || isDigit(c):
				cur = append(cur, c)
			case isUpper(c):
				if i > 0 && (isLower(name[i-1]) || isDigit(name[i-1]) || (isUpper(name[i-1]) && i+1 < len(name) && isLower(name[i+1]))) {
					flush()
				}
				cur = append(cur, c+'a'-'A')
			default:
				flush()
			}
		}
		flush()
		if got := splitName(name); !slices.Equal(got, want) {
			t.Errorf("splitName(%q) = %q, want %q", name, got, want)
		}
	})
}
