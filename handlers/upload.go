package handlers

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/fault"
)

// spooledUpload is an import upload read as a stream: its form fields, and
// its file written to a private file on disk as it arrived.
type spooledUpload struct {
	source string
	clear  bool
	path   string
}

// remove deletes the spooled file, if any.
func (u spooledUpload) remove() {
	if u.path != "" {
		os.Remove(u.path)
	}
}

// errSpool is the server's own disk failing to take an upload (full, or
// the data directory unusable): not the file's fault, so not 400.
var errSpool = fault.Errorf(fault.KindUnavailable, fault.CodeUnavailable, "服务器暂时无法保存上传的文件，请稍后再试")

// diskWriter writes to the spool file and keeps its first error apart
// from the upload's own (a client gone, a body cut off).
type diskWriter struct {
	f   *os.File
	err error
}

func (w *diskWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// importDir is where uploads are spooled: under the data directory, which
// only the service's user may read (files hold document numbers).
func (api *API) importDir() string { return filepath.Join(api.cfg.DataDir, "imports") }

// spoolUpload reads a multipart import (fields source and clear, part file)
// part by part, copying the file to disk, so a list of any allowed size
// never sits in memory. An unknown source is KindInvalid; a body over the
// import limit comes back as *http.MaxBytesError (413).
func (api *API) spoolUpload(c *gin.Context) (spooledUpload, error) {
	return api.spool(c, true)
}

// spool reads a multipart upload as spoolUpload does; withSource checks
// the source and clear fields of a status list.
func (api *API) spool(c *gin.Context, withSource bool) (spooledUpload, error) {
	var u spooledUpload
	// The server's read and write timeouts are for requests of a few kB:
	// a list of up to 256 MB from an operator (known by now) gets the
	// upload timeout to arrive and be answered in.
	if d := api.cfg.HTTP.UploadTimeout.D(); d > 0 {
		rc := http.NewResponseController(c.Writer)
		deadline := time.Now().Add(d) // the connection's clock, not the service's
		rc.SetReadDeadline(deadline)
		rc.SetWriteDeadline(deadline)
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return u, fault.Errorf(fault.KindInvalid, codeFileRequired, "请以 multipart/form-data 上传 source 与 file").Wrap(err)
	}
	fail := func(err error) (spooledUpload, error) {
		u.remove()
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return spooledUpload{}, err
		}
		if _, ok := err.(*fault.Error); ok {
			return spooledUpload{}, err
		}
		return spooledUpload{}, fault.Errorf(fault.KindInvalid, codeInvalidUpload, "上传内容无法读取，请重新上传").Wrap(err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
		switch part.FormName() {
		case "source", "clear":
			b, err := io.ReadAll(io.LimitReader(part, 64))
			if err != nil {
				return fail(err)
			}
			if part.FormName() == "source" {
				u.source = strings.TrimSpace(string(b))
			} else {
				u.clear = strings.TrimSpace(string(b)) == "true"
			}
		case "file":
			if u.path != "" {
				return fail(fault.Errorf(fault.KindInvalid, codeInvalidUpload, "一次只能上传一个文件"))
			}
			if err := os.MkdirAll(api.importDir(), 0o700); err != nil {
				return fail(errSpool.Wrap(err))
			}
			f, err := os.CreateTemp(api.importDir(), "upload-*.csv")
			if err != nil {
				return fail(errSpool.Wrap(err))
			}
			u.path = f.Name()
			disk := &diskWriter{f: f}
			_, err = io.Copy(disk, part)
			if cerr := f.Close(); cerr != nil && disk.err == nil {
				disk.err = cerr
			}
			if disk.err != nil {
				return fail(errSpool.Wrap(disk.err))
			}
			if err != nil {
				return fail(err)
			}
		}
		part.Close()
	}
	if !withSource {
		return u, nil
	}
	if !models.ValidSource(u.source) {
		return fail(fault.Errorf(fault.KindInvalid, fault.CodeInvalidSource, "名单来源只能是 cdc、community、nucleic_acid 或 operator"))
	}
	if u.clear && u.path != "" {
		return fail(fault.Errorf(fault.KindInvalid, codeInvalidUpload, "清空名单时不能同时上传文件"))
	}
	return u, nil
}
