// Command crd-labels copies CustomResourceDefinition YAML files and adds
// metadata labels to every CRD in them, the way a kustomize `labels:` entry
// would. It is used by hack/capi-crds.sh to put the CAPI contract labels on
// the CRD bases shipped in the cluster-api Go module.
//
// Usage:
//
//	crd-labels -label key=value [-label key=value ...] -out DIR FILE...
//
// Each input file may hold several YAML documents. Documents that are not
// CustomResourceDefinitions are rejected. Each output file keeps the base name
// of its input.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

type labelFlags []string

func (l *labelFlags) String() string { return strings.Join(*l, ",") }

func (l *labelFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("label %q is not key=value", v)
	}
	*l = append(*l, v)
	return nil
}

func main() {
	var labels labelFlags
	flag.Var(&labels, "label", "key=value label to add (repeatable)")
	out := flag.String("out", "", "output directory (must exist)")
	flag.Parse()
	if *out == "" || len(labels) == 0 || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: crd-labels -label key=value [-label ...] -out DIR FILE...")
		os.Exit(2)
	}
	kv := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		kv[k] = v
	}
	for _, in := range flag.Args() {
		if err := relabel(in, *out, kv); err != nil {
			fmt.Fprintf(os.Stderr, "crd-labels: %s: %v\n", in, err)
			os.Exit(1)
		}
	}
}

func relabel(in, outDir string, labels map[string]string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var outBuf bytes.Buffer
	n := 0
	for _, doc := range splitDocuments(raw) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return err
		}
		if obj == nil {
			continue
		}
		if obj["kind"] != "CustomResourceDefinition" {
			return fmt.Errorf("document %d has kind %v, want CustomResourceDefinition", n, obj["kind"])
		}
		meta, ok := obj["metadata"].(map[string]any)
		if !ok {
			return errors.New("CRD without metadata")
		}
		existing, _ := meta["labels"].(map[string]any)
		if existing == nil {
			existing = map[string]any{}
		}
		for k, v := range labels {
			existing[k] = v
		}
		meta["labels"] = existing
		encoded, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		outBuf.WriteString("---\n")
		outBuf.Write(encoded)
		n++
	}
	if n == 0 {
		return errors.New("no CRD found")
	}
	return writeAtomic(filepath.Join(outDir, filepath.Base(in)), outBuf.Bytes())
}

// splitDocuments splits a YAML stream on lines that are exactly "---".
func splitDocuments(raw []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if strings.TrimRight(string(line), " \t\r\n") == "---" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".crd-labels-*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
