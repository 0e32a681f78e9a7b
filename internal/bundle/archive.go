package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// ArchiveName is the name of a bundle's archive under its S3 prefix.
const ArchiveName = "bundle.tar.gz"

// Archive limits. A bundle is a few hundred kilobytes of YAML; the limits
// keep a hostile or mistaken archive from exhausting a 128 MB function.
const (
	// MaxArchiveBytes is the largest compressed archive read.
	MaxArchiveBytes = 8 << 20
	maxExpanded     = 32 << 20
	maxEntries      = 4096
)

// WriteArchive writes the bundle files of fsys (those Load reads) as a
// gzip'd tar. The archive depends on the files' names and contents only,
// not on times, owners or modes: the same bundle always gives the same
// bytes, so its S3 ETag changes only when its content does.
func WriteArchive(w io.Writer, fsys fs.FS) error {
	files, err := readFS(fsys)
	if err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return writeArchive(w, files)
}

// Archive writes b as WriteArchive does, with the files of its base,
// unless that is the embedded bundle, under .base/: the archive is the
// whole bundle, and a function that reads it reads nothing else.
func (b *Bundle) Archive(w io.Writer) error {
	return writeArchive(w, slices.SortedFunc(slices.Values(b.files), func(x, y file) int { return strings.Compare(x.name, y.name) }))
}

func writeArchive(w io.Writer, files []file) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write archive %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("write archive %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// ReadArchive loads the bundle in a gzip'd tar as written by WriteArchive.
// Entries other than regular files and directories, names that are not
// plain relative paths, a name given twice and archives beyond the limits
// are errors: an archive that could be read two ways is not loaded at all.
func ReadArchive(data []byte, source string) (*Bundle, error) {
	files, err := readArchive(data)
	if err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", source, err)
	}
	own, base := splitArchived(files)
	return load(own, source, origin{archive: true, archived: base})
}

// archived reports whether an archive entry belongs to the bundle: a
// bundle file, or one of its base's under .base/ (of its base's base
// under .base/.base/, and so on).
func archived(name string) bool {
	for {
		rest, ok := strings.CutPrefix(name, baseDir)
		if !ok {
			return member(name)
		}
		name = rest
	}
}

var errArchiveLimit = errors.New("archive too large")

func readArchive(data []byte) ([]file, error) {
	if len(data) > MaxArchiveBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errArchiveLimit, len(data), MaxArchiveBytes)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	tr := tar.NewReader(zr)
	var files []file
	seen := map[string]bool{}
	expanded := 0
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		if n >= maxEntries {
			return nil, fmt.Errorf("%w: more than %d entries", errArchiveLimit, maxEntries)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("archive entry %q: type %q is not a regular file", hdr.Name, hdr.Typeflag)
		}
		if !fs.ValidPath(hdr.Name) {
			return nil, fmt.Errorf("archive entry %q: not a relative slash-separated path", hdr.Name)
		}
		if seen[hdr.Name] {
			return nil, fmt.Errorf("archive entry %q: given twice", hdr.Name)
		}
		seen[hdr.Name] = true
		expanded += int(hdr.Size)
		if hdr.Size < 0 || expanded > maxExpanded {
			return nil, fmt.Errorf("%w: more than %d bytes expanded", errArchiveLimit, maxExpanded)
		}
		if !archived(hdr.Name) {
			continue
		}
		body, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
		if err != nil {
			return nil, fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
		files = append(files, file{hdr.Name, body})
	}
	// Read the gzip stream to its end, where its checksum is verified.
	if _, err := io.Copy(io.Discard, io.LimitReader(zr, 1<<20)); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	return files, nil
}
