package bundle

import (
	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// locate returns the line and column, within data (one YAML document), of
// the member or element at names a member name and an int an index. It
// goes as deep as data has the path and reports false when data does not
// parse. Only errors are located, so only they pay for the second parse.
func locate(data []byte, at []any) (line, col int, ok bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return 0, 0, false
	}
	n := doc.Content[0]
	line, col = n.Line, n.Column
	for _, step := range at {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line, col, true
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					line, col = n.Content[i].Line, n.Content[i].Column
					next = n.Content[i+1]
				}
			}
		case int:
			if n.Kind != yaml.SequenceNode || s >= len(n.Content) {
				return line, col, true
			}
			next = n.Content[s]
			line, col = next.Line, next.Column
		}
		if next == nil {
			return line, col, true
		}
		n = next
	}
	return line, col, true
}

// locateKey returns the line and column of the first member named name
// in data (one YAML document), depth first.
func locateKey(data []byte, name string) (line, col int, ok bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return 0, 0, false
	}
	var walk func(n *yaml.Node) *yaml.Node
	walk = func(n *yaml.Node) *yaml.Node {
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 && c.Value == name {
				return c
			}
			if found := walk(c); found != nil {
				return found
			}
		}
		return nil
	}
	if k := walk(&doc); k != nil {
		return k.Line, k.Column, true
	}
	return 0, 0, false
}
