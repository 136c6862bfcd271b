package ledger

import (
	"errors"
	"strings"
	"time"
)

// AddApp registers a WeChat account, or changes its secret if it exists.
func (l *Ledger) AddApp(appid, secret string) {
	if a, ok := l.Apps[appid]; ok {
		a.Secret = secret
		return
	}
	l.Apps[appid] = NewAccount(appid, secret)
}

// AddHeld registers the held-token app of platform with key, or changes
// its secret.
func (l *Ledger) AddHeld(platform, key, secret string) *Held {
	if h, ok := l.Held[key]; ok {
		h.Secret = secret
		return h
	}
	h := &Held{Platform: platform, Key: key, Secret: secret}
	l.Held[key] = h
	return h
}

// AddWeCom registers app agentid of WeCom corp corpid with its
// corpsecret, or changes the app's secret (see wechattest's AddWeCom).
func (l *Ledger) AddWeCom(corpid, agentid, secret string) error {
	if corpid == "" || agentid == "" || secret == "" {
		return errors.New("wechattest: AddWeCom needs corpid, agentid and secret")
	}
	if strings.Contains(corpid, ":") || strings.Contains(agentid, ":") {
		return errors.New("wechattest: AddWeCom: corpid and agentid cannot contain ':'")
	}
	c := l.Corps[corpid]
	if c == nil {
		c = NewCorp(corpid)
		l.Corps[corpid] = c
	}
	for id, h := range c.Apps {
		if id != agentid && h.Secret == secret {
			return errors.New("wechattest: AddWeCom: another app of the corp has this secret")
		}
	}
	h := l.AddHeld(PlatformWeCom, WeComKey(corpid, agentid), secret)
	h.Corp = c
	c.Apps[agentid] = h
	return nil
}

// RotateHeld replaces the token of the held-token app with key out of
// band at now: the current token dies at once and a new one is issued. It
// returns the new token, or "" for an unknown key.
func (l *Ledger) RotateHeld(now time.Time, key string) string {
	h, ok := l.Held[key]
	if !ok {
		return ""
	}
	l.audit.OutOfBand[key+"/"+FamilyToken]++
	return l.Replace(now, &h.Token, h.Platform, h.Key, FamilyToken)
}
