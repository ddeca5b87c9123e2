// Command gocsr reports what Kubernetes reads from a CertificateSigningRequest's spec.request.
//
// It reads JSON lines on stdin, each {"request": "<base64 of the spec.request bytes>"}, and writes one JSON line
// per input. The reading is the one kube-apiserver's validation and the in-tree signers do: the first block
// encoding/pem's Decode finds, which must be a CERTIFICATE REQUEST (k8s.io/kubernetes pkg/apis/certificates
// ParseCSR), then crypto/x509's ParseCertificateRequest and CheckSignature. Standard library only.
package main

import (
	"bufio"
	"crypto/dsa"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"unicode/utf8"
)

// blockTypeCSR is the only block type certificates.ParseCSR accepts.
const blockTypeCSR = "CERTIFICATE REQUEST"

type input struct {
	Request []byte `json:"request"` // encoding/json decodes base64 into []byte
}

// text is a string taken from the request; it may hold bytes that are not UTF-8 (a T61String is copied as is),
// which encoding/json would replace silently, so those are written as {"invalid_utf8": "<hex>"} instead.
type text string

func (t text) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(t)) {
		return json.Marshal(string(t))
	}
	return json.Marshal(map[string]string{"invalid_utf8": hex.EncodeToString([]byte(t))})
}

type block struct {
	Type    text            `json:"type"`
	Headers map[string]text `json:"headers"`
	Bytes   []byte          `json:"bytes"`
}

type subject struct {
	Names              [][2]any `json:"names"` // [oid, value]: the value is null when Go does not read it as a string
	CommonName         text     `json:"common_name"`
	SerialNumber       text     `json:"serial_number"`
	Country            []text   `json:"country"`
	Province           []text   `json:"province"`
	Locality           []text   `json:"locality"`
	StreetAddress      []text   `json:"street_address"`
	PostalCode         []text   `json:"postal_code"`
	Organization       []text   `json:"organization"`
	OrganizationalUnit []text   `json:"organizational_unit"`
}

type publicKey struct {
	Algorithm string  `json:"algorithm"` // x509.PublicKeyAlgorithm's String(): RSA, DSA, ECDSA, Ed25519, or a number
	Bits      *int    `json:"bits"`
	Curve     *string `json:"curve"`
}

type request struct {
	Subject                 subject   `json:"subject"`
	DNSNames                []string  `json:"dns_names"`
	IPAddresses             []string  `json:"ip_addresses"`
	EmailAddresses          []string  `json:"email_addresses"`
	URIs                    []string  `json:"uris"`
	Extensions              []string  `json:"extensions"`
	PublicKey               publicKey `json:"public_key"`
	RawSubjectPublicKeyInfo []byte    `json:"raw_subject_public_key_info"`
	SignatureAlgorithm      string    `json:"signature_algorithm"`
	SignatureValid          bool      `json:"signature_valid"`
	SignatureError          *string   `json:"signature_error"`
}

type output struct {
	InputError *string  `json:"input_error,omitempty"` // the line itself was not {"request": "<base64>"}
	Block      *block   `json:"block"`
	Error      *string  `json:"error"` // what certificates.ParseCSR returns; null when it parses
	CSR        *request `json:"csr"`
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<16)
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			if encodeErr := encoder.Encode(answer(line)); encodeErr != nil {
				fail(encodeErr)
			}
			// answer at once: one long-lived process serves a caller that waits for each line
			if flushErr := out.Flush(); flushErr != nil {
				fail(flushErr)
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	os.Stderr.WriteString("gocsr: " + err.Error() + "\n")
	os.Exit(1)
}

func answer(line []byte) output {
	var given input
	if err := json.Unmarshal(line, &given); err != nil {
		message := err.Error()
		return output{InputError: &message}
	}
	return read(given.Request)
}

// read is certificates.ParseCSR followed by the signature check of the API server's validateCSR.
func read(data []byte) output {
	var result output
	found, _ := pem.Decode(data)
	if found != nil {
		headers := make(map[string]text, len(found.Headers))
		for key, value := range found.Headers {
			headers[key] = text(value)
		}
		result.Block = &block{Type: text(found.Type), Headers: headers, Bytes: found.Bytes}
	}
	if found == nil || found.Type != blockTypeCSR {
		message := "PEM block type must be CERTIFICATE REQUEST"
		result.Error = &message
		return result
	}
	parsed, err := x509.ParseCertificateRequest(found.Bytes)
	if err != nil {
		message := err.Error()
		result.Error = &message
		return result
	}
	result.CSR = describe(parsed)
	return result
}

func describe(csr *x509.CertificateRequest) *request {
	described := &request{
		Subject:                 describeSubject(csr),
		DNSNames:                nonNil(csr.DNSNames),
		EmailAddresses:          nonNil(csr.EmailAddresses),
		IPAddresses:             []string{},
		URIs:                    []string{},
		Extensions:              []string{},
		PublicKey:               describeKey(csr),
		RawSubjectPublicKeyInfo: csr.RawSubjectPublicKeyInfo,
		SignatureAlgorithm:      csr.SignatureAlgorithm.String(),
	}
	for _, ip := range csr.IPAddresses {
		described.IPAddresses = append(described.IPAddresses, ip.String())
	}
	for _, uri := range csr.URIs {
		described.URIs = append(described.URIs, uri.String())
	}
	for _, extension := range csr.Extensions {
		described.Extensions = append(described.Extensions, extension.Id.String())
	}
	if err := csr.CheckSignature(); err != nil {
		message := err.Error()
		described.SignatureError = &message
	} else {
		described.SignatureValid = true
	}
	return described
}

func describeSubject(csr *x509.CertificateRequest) subject {
	name := csr.Subject
	described := subject{
		Names:              [][2]any{},
		CommonName:         text(name.CommonName),
		SerialNumber:       text(name.SerialNumber),
		Country:            texts(name.Country),
		Province:           texts(name.Province),
		Locality:           texts(name.Locality),
		StreetAddress:      texts(name.StreetAddress),
		PostalCode:         texts(name.PostalCode),
		Organization:       texts(name.Organization),
		OrganizationalUnit: texts(name.OrganizationalUnit),
	}
	for _, attribute := range name.Names {
		var value any // pkix.Name ignores values that are not strings: INTEGER, OCTET STRING, unknown tags
		if s, ok := attribute.Value.(string); ok {
			value = text(s)
		}
		described.Names = append(described.Names, [2]any{attribute.Type.String(), value})
	}
	return described
}

func describeKey(csr *x509.CertificateRequest) publicKey {
	described := publicKey{Algorithm: csr.PublicKeyAlgorithm.String()}
	bits := func(n int) { described.Bits = &n }
	switch key := csr.PublicKey.(type) {
	case *rsa.PublicKey:
		bits(key.N.BitLen())
	case *ecdsa.PublicKey:
		params := key.Curve.Params()
		bits(params.BitSize)
		described.Curve = &params.Name
	case ed25519.PublicKey:
		bits(256)
	case *dsa.PublicKey:
		bits(key.P.BitLen())
	}
	return described
}

func texts(values []string) []text {
	converted := make([]text, 0, len(values))
	for _, value := range values {
		converted = append(converted, text(value))
	}
	return converted
}

func nonNil(values []string) []string {
	if values == nil {
		return []string{}
	}
	return values
}
