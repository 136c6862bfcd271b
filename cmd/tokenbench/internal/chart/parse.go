package chart

// Reading a chart and its table back: the tests of a committed pair and of
// RenderSVG use these to compare every plotted value with the table's.

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Key names one plotted value.
type Key struct {
	Series, Metric string
	Replicas       int
}

// Marker is a data-carrying marker of the SVG and where it is drawn.
type Marker struct {
	Value string
	X, Y  float64
}

// Text is a text element of the SVG.
type Text struct {
	S string
	Y float64
}

// Markers decodes an SVG (failing on malformed XML) and returns its
// markers by key and its text elements.
func Markers(data []byte) (map[Key]Marker, []Text, error) {
	markers, texts := map[Key]Marker{}, []Text(nil)
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return markers, texts, nil
		}
		if err != nil {
			return nil, nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "text" {
			var txt struct {
				Y float64 `xml:"y,attr"`
				S string  `xml:",chardata"`
			}
			if err := dec.DecodeElement(&txt, &se); err != nil {
				return nil, nil, err
			}
			texts = append(texts, Text{txt.S, txt.Y})
			continue
		}
		a := map[string]string{}
		for _, at := range se.Attr {
			a[at.Name.Local] = at.Value
		}
		if a["data-series"] == "" {
			continue
		}
		k, m, err := markerOf(se.Name.Local, a)
		if err != nil {
			return nil, nil, err
		}
		if _, dup := markers[k]; dup {
			return nil, nil, fmt.Errorf("two markers for %+v", k)
		}
		markers[k] = m
	}
}

// markerOf reads a marker's key and centre from its attributes.
func markerOf(elem string, a map[string]string) (Key, Marker, error) {
	r, err := strconv.Atoi(a["data-replicas"])
	if err != nil {
		return Key{}, Marker{}, fmt.Errorf("data-replicas: %v", err)
	}
	xa, ya, d := "cx", "cy", 0.0
	if elem == "rect" {
		xa, ya, d = "x", "y", 4
	}
	x, errX := strconv.ParseFloat(a[xa], 64)
	y, errY := strconv.ParseFloat(a[ya], 64)
	if err := errors.Join(errX, errY); err != nil {
		return Key{}, Marker{}, err
	}
	return Key{a["data-series"], a["data-metric"], r}, Marker{a["data-value"], x + d, y + d}, nil
}

// TableRows returns the Markdown table lines of md: the first run of
// lines starting with "|" at or after the line that equals heading ("":
// from the start); nil when heading is not there.
func TableRows(md, heading string) []string {
	var rows []string
	found := heading == ""
	for _, l := range strings.Split(md, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case !found:
			found = l == heading
		case strings.HasPrefix(l, "|"):
			rows = append(rows, l)
		case len(rows) > 0:
			return rows
		}
	}
	return rows
}

// TableValues reads the plotted values from the chart table's rows: the
// first word of each value cell, in TableHead's order.
func TableValues(rows []string) (map[Key]string, error) {
	if len(rows) < 3 {
		return nil, fmt.Errorf("want a header, a separator and rows, got %d lines", len(rows))
	}
	cols := []Key{{"naive", "fetches-per-cycle", 0}, {"tokend", "fetches-per-cycle", 0}, {"naive", "dead-pct", 0}, {"tokend", "dead-pct", 0}}
	vals := map[Key]string{}
	for _, r := range rows[2:] {
		cells := strings.Split(strings.Trim(r, "|"), "|")
		if len(cells) != 1+len(cols) {
			return nil, fmt.Errorf("row %q: want %d cells", r, 1+len(cols))
		}
		n, err := strconv.Atoi(strings.TrimSpace(cells[0]))
		if err != nil {
			return nil, fmt.Errorf("row %q: replicas: %v", r, err)
		}
		for i, k := range cols {
			k.Replicas = n
			vals[k] = strings.Fields(cells[i+1])[0]
		}
	}
	return vals, nil
}

// Diff lists how markers differ from the table's values (nil: the same).
func Diff(markers map[Key]Marker, want map[Key]string) []string {
	var out []string
	if len(markers) != len(want) {
		out = append(out, fmt.Sprintf("%d markers in the chart, %d values in the table", len(markers), len(want)))
	}
	for k, v := range want {
		if m, ok := markers[k]; !ok || m.Value != v {
			out = append(out, fmt.Sprintf("%+v: chart %q (present %v), table %q", k, m.Value, ok, v))
		}
	}
	return out
}
