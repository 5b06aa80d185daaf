package api

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
)

// JSONErrorListener wraps ln so that the few error answers net/http writes
// itself, before any handler runs, are JSON problems like every other
// answer of situ instead of text/plain: request headers over the server's
// MaxHeaderBytes (431 header_too_large), a request that is not HTTP/1.1
// (400 bad_request: a malformed request line or header, a missing Host),
// an unsupported Transfer-Encoding (501 unsupported_transfer_encoding) or
// protocol version (505 unsupported_http_version). maxHeaderBytes is the
// server's limit, named in the 431 message. Server.Serve uses it; wrap
// the listener of any other http.Server with it the same way.
//
// net/http writes each of those answers to the connection in one Write
// before any response, in a fixed form (status line, "Content-Type:
// text/plain; charset=utf-8", "Connection: close", the status again as the
// body); a connection rewrites exactly a Write of that form and passes
// every other through untouched (a handler's response always has a Date
// header, so it never has that form).
func JSONErrorListener(ln net.Listener, maxHeaderBytes int) net.Listener {
	return &jsonErrorListener{Listener: ln, maxHeaderBytes: maxHeaderBytes}
}

type jsonErrorListener struct {
	net.Listener
	maxHeaderBytes int
}

func (l *jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c, maxHeaderBytes: l.maxHeaderBytes}, nil
}

type jsonErrorConn struct {
	net.Conn
	maxHeaderBytes int
}

// Write rewrites net/http's own text/plain error answers into JSON.
func (c *jsonErrorConn) Write(b []byte) (int, error) {
	if out, ok := rewriteServerError(b, c.maxHeaderBytes); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// CloseWrite lets net/http half-close the connection after a 431, as it
// does on a bare *net.TCPConn.
func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// netHTTPErrorHeaders are the headers of net/http's own error answers
// (net/http/server.go, conn.serve).
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// rewriteServerError returns the JSON form of b when b is one of net/http's
// own error answers: "HTTP/1.1 " status errorHeaders body, where body
// repeats the status or, for 501, is "Unsupported transfer encoding".
func rewriteServerError(b []byte, maxHeaderBytes int) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if len(b) > 1024 || !bytes.HasPrefix(b, []byte(proto)) {
		return nil, false
	}
	end := bytes.IndexByte(b, '\r')
	if end < len(proto)+4 || !bytes.HasPrefix(b[end:], []byte(netHTTPErrorHeaders)) {
		return nil, false
	}
	status, body := b[len(proto):end], b[end+len(netHTTPErrorHeaders):]
	code, err := strconv.Atoi(string(status[:3]))
	if err != nil || status[3] != ' ' {
		return nil, false
	}
	var p problem
	switch {
	case code == 501 && string(body) == "Unsupported transfer encoding":
		p = problem{code, CodeUnsupportedTransferEncoding, "", "the Transfer-Encoding is not supported: send the body with a Content-Length or chunked"}
	case !bytes.Equal(status, body):
		return nil, false
	case code == 431:
		p = problem{code, CodeHeaderTooLarge, "", fmt.Sprintf("the request line and headers are larger than %d bytes: send fewer or smaller headers", maxHeaderBytes)}
	case code == 505:
		p = problem{code, CodeUnsupportedHTTPVersion, "", "the HTTP version is not supported: send HTTP/1.1 (or HTTP/1.0)"}
	default:
		msg := "the request is not valid HTTP/1.1 (malformed request line or headers)"
		if _, detail, ok := bytes.Cut(status, []byte(": ")); ok {
			msg = "the request is not valid HTTP/1.1: " + string(detail)
		}
		p = problem{code, CodeBadRequest, "", msg}
	}
	problemJSON := appendProblem(nil, p)
	out := make([]byte, 0, len(proto)+len(status)+128+len(problemJSON))
	out = append(out, proto...)
	out = append(out, status...)
	out = append(out, "\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(problemJSON)), 10)
	out = append(out, "\r\nConnection: close\r\n\r\n"...)
	return append(out, problemJSON...), true
}
