package msgcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// Vector A: WxJava (chanjarster/weixin-java-tools),
// weixin-java-common/src/test/java/me/chanjar/weixin/common/util/crypto/WxCryptUtilTest.java,
// testAesEncrypt and testAesEncrypt2: pc.encrypt(randomStr, replyMsg) ==
// afterAesEncrypt with token "pamtest", the EncodingAESKey below, appId
// "wxb11529c136998cb6" and randomStr "aaaabbbbccccdddd". The same values
// are in the official WXBizMsgCrypt Java sample's test.
const (
	vecAKey     = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	vecAToken   = "pamtest"
	vecAAppID   = "wxb11529c136998cb6"
	vecARandom  = "aaaabbbbccccdddd"
	vecAMsg     = "我是中文abcd123"
	vecACipher  = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
	vecAMsg2    = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"
	vecACipher2 = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"
)

// Vector B: EasyWeChat (w7corp/easywechat),
// tests/Kernel/Traits/DecryptXmlMessageTest.php,
// test_it_can_decrypt_message: the official WeCom sample's push (appid
// wx5823bf96d3bd56c7, token QDG6eK), signature
// 477715d11cdb4164915debcba66cb864d751f3e6 at timestamp 1409659813, nonce
// 1372623149, decrypting to a text message "hello" from "mycreate" with
// MsgId 4561255354251345929 and AgentID 218.
const (
	vecBKey       = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	vecBToken     = "QDG6eK"
	vecBAppID     = "wx5823bf96d3bd56c7"
	vecBSignature = "477715d11cdb4164915debcba66cb864d751f3e6"
	vecBTimestamp = "1409659813"
	vecBNonce     = "1372623149"
	vecBEncrypt   = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)

func mustNew(t *testing.T, token, key, appid string) *Crypt {
	t.Helper()
	c, err := New(Config{Token: token, EncodingAESKey: key, AppID: appid})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEncrypt_publishedVectors(t *testing.T) {
	c, err := New(Config{Token: vecAToken, EncodingAESKey: vecAKey, AppID: vecAAppID, Rand: strings.NewReader(vecARandom + vecARandom)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ msg, want string }{{vecAMsg, vecACipher}, {vecAMsg2, vecACipher2}} {
		got, err := c.Encrypt([]byte(v.msg))
		if err != nil {
			t.Fatal(err)
		}
		if got != v.want {
			t.Errorf("Encrypt(%.20q) = %.40s..., want %.40s...", v.msg, got, v.want)
		}
		back, err := c.Decrypt(v.want)
		if err != nil || string(back) != v.msg {
			t.Errorf("Decrypt(published) = %.20q, %v; want %.20q", back, err, v.msg)
		}
	}
}

func TestVerifyAndDecrypt_publishedVector(t *testing.T) {
	c := mustNew(t, vecBToken, vecBKey, vecBAppID)
	if got := c.Signature(vecBTimestamp, vecBNonce, vecBEncrypt); got != vecBSignature {
		t.Fatalf("Signature = %s, want %s", got, vecBSignature)
	}
	msg, err := c.VerifyAndDecrypt(vecBSignature, vecBTimestamp, vecBNonce, vecBEncrypt)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>", "<FromUserName><![CDATA[mycreate]]></FromUserName>",
		"<CreateTime>1409659813</CreateTime>", "<MsgType><![CDATA[text]]></MsgType>", "<Content><![CDATA[hello]]></Content>",
		"<MsgId>4561255354251345929</MsgId>", "<AgentID>218</AgentID>",
	} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("decrypted message lacks %s:\n%s", want, msg)
		}
	}
}

func TestNew_rejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no token", Config{EncodingAESKey: vecAKey, AppID: "wx1"}, "Token"},
		{"no appid", Config{Token: "t", EncodingAESKey: vecAKey}, "AppID"},
		{"42 chars", Config{Token: "t", EncodingAESKey: vecAKey[:42], AppID: "wx1"}, "EncodingAESKey"},
		{"44 chars", Config{Token: "t", EncodingAESKey: vecAKey + "A", AppID: "wx1"}, "EncodingAESKey"},
		{"not base64", Config{Token: "t", EncodingAESKey: "!" + vecAKey[1:], AppID: "wx1"}, "EncodingAESKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("New = %v, want a FieldError on %s", err, tc.field)
			}
			if strings.Contains(err.Error(), vecAKey[:20]) {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}

// rawEncrypt encrypts plaintext as is (no framing, no padding added), so
// that tests can build malformed plaintexts.
func rawEncrypt(t *testing.T, c *Crypt, pt []byte) string {
	t.Helper()
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(ct, pt)
	return base64.StdEncoding.EncodeToString(ct)
}

// framed is random | length | msg | appid, padded with pad bytes of value
// padByte (count padLen).
func framed(n uint32, msg, appid string, padByte byte, padLen int) []byte {
	b := append([]byte(vecARandom), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	b = append(b, msg...)
	b = append(b, appid...)
	return append(b, bytes.Repeat([]byte{padByte}, padLen)...)
}

func TestDecrypt_rejects(t *testing.T) {
	c := mustNew(t, vecAToken, vecAKey, vecAAppID)
	other := mustNew(t, vecAToken, vecAKey, "wxotherappid00000")
	foreign, err := other.Encrypt([]byte("<xml/>"))
	if err != nil {
		t.Fatal(err)
	}
	// 16 + 4 + 6 + 18 = 44 bytes: 20 bytes of padding reach 64.
	good := framed(6, "<xml/>", vecAAppID, 20, 20)
	if msg, err := c.Decrypt(rawEncrypt(t, c, good)); err != nil || string(msg) != "<xml/>" {
		t.Fatalf("the well-formed control case: %q, %v", msg, err)
	}
	inconsistent := framed(6, "<xml/>", vecAAppID, 20, 20)
	inconsistent[len(inconsistent)-5] = 19
	for _, tc := range []struct {
		name string
		enc  string
		want error
	}{
		{"wrong appid", foreign, ErrAppID},
		{"pad byte 0", rawEncrypt(t, c, framed(6, "<xml/>", vecAAppID, 0, 20)), ErrDecrypt},
		{"pad byte 33", rawEncrypt(t, c, append(framed(6, "<xml/>", vecAAppID, 33, 20), bytes.Repeat([]byte{33}, 32)...)), ErrDecrypt},
		{"inconsistent padding", rawEncrypt(t, c, inconsistent), ErrDecrypt},
		{"length past the end", rawEncrypt(t, c, framed(1<<31, "<xml/>", vecAAppID, 20, 20)), ErrDecrypt},
		{"length one past the end", rawEncrypt(t, c, framed(6+18+1, "<xml/>", vecAAppID, 20, 20)), ErrDecrypt},
		{"length to the end: no appid left", rawEncrypt(t, c, framed(6+18, "<xml/>", vecAAppID, 20, 20)), ErrAppID},
		{"truncated base64", vecACipher[:len(vecACipher)-3], ErrDecrypt},
		{"one block short", base64.StdEncoding.EncodeToString(mustB64(t, vecACipher)[:48]), ErrDecrypt},
		{"not whole blocks", base64.StdEncoding.EncodeToString(mustB64(t, vecACipher)[:40]), ErrDecrypt},
		{"empty", "", ErrDecrypt},
		{"oversized", strings.Repeat("A", MaxEncryptedLen+4), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := c.Decrypt(tc.enc)
			if !errors.Is(err, tc.want) || msg != nil {
				t.Fatalf("Decrypt = %q, %v; want nil, %v", msg, err, tc.want)
			}
		})
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyAndDecrypt_rejects(t *testing.T) {
	c := mustNew(t, vecBToken, vecBKey, vecBAppID)
	flipped := []byte(vecBSignature)
	flipped[len(flipped)-1] = '7'
	for _, tc := range []struct {
		name, sig, ts, nonce, enc string
		want                      error
	}{
		{"bad signature", string(flipped), vecBTimestamp, vecBNonce, vecBEncrypt, ErrSignature},
		{"empty signature", "", vecBTimestamp, vecBNonce, vecBEncrypt, ErrSignature},
		{"other timestamp", vecBSignature, "1409659814", vecBNonce, vecBEncrypt, ErrSignature},
		{"other nonce", vecBSignature, vecBTimestamp, "1", vecBEncrypt, ErrSignature},
		{"other token", mustNew(t, "other", vecBKey, vecBAppID).Signature(vecBTimestamp, vecBNonce, vecBEncrypt),
			vecBTimestamp, vecBNonce, vecBEncrypt, ErrSignature},
		{"oversized", vecBSignature, vecBTimestamp, vecBNonce, strings.Repeat("A", MaxEncryptedLen+1), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := c.VerifyAndDecrypt(tc.sig, tc.ts, tc.nonce, tc.enc)
			if !errors.Is(err, tc.want) || msg != nil {
				t.Fatalf("VerifyAndDecrypt = %q, %v; want nil, %v", msg, err, tc.want)
			}
		})
	}
}

func TestSeal_roundTrip(t *testing.T) {
	c := mustNew(t, vecAToken, vecAKey, vecAAppID)
	for _, n := range []int{0, 1, 11, 12, 13, 43, 44, 45, 1000} { // around the 32-byte padding edges
		msg := bytes.Repeat([]byte("x"), n)
		enc, sig, err := c.Seal(msg, "1700000000", "nonce")
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.VerifyAndDecrypt(sig, "1700000000", "nonce", enc)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("len %d: round trip = %d bytes, %v", n, len(got), err)
		}
		if len(mustB64(t, enc))%32 != 0 {
			t.Errorf("len %d: ciphertext not padded to 32 bytes", n)
		}
	}
}
