package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dossapp/backend/pkg/contract"
)

// uploadWorkers is the load: 60 document uploads at once.
const uploadWorkers = 60

// uploadTargetMiB is the resident memory each process must stay under.
const uploadTargetMiB = 400

// uploads sends 60 concurrent 10 MiB document uploads for d, first all by
// one user, then by 60 users (each sender waits out a 429's Retry-After,
// as the app does), while sampling the resident memory of the
// gateway and the documents service from /proc.
func (b *bench) uploads(rep *report, gw, token string, d time.Duration) error {
	typeID, err := firstDocumentType(gw, token)
	if err != nil {
		return err
	}
	body, contentType, err := documentForm(10<<20-64<<10, typeID)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "uploads: a %.1f MiB JPEG, %d at once\n", float64(len(body))/(1<<20), uploadWorkers)
	var alone []time.Duration
	for range 3 {
		t0 := time.Now()
		if st, _, err := upload(gw, token, body, contentType); err != nil || st != http.StatusCreated {
			return fmt.Errorf("one upload alone: %d %v", st, err)
		}
		alone = append(alone, time.Since(t0))
	}
	slices.Sort(alone)
	rep.add("one 10 MiB document upload alone (median of 3)", fmt.Sprintf("%.0f ms", ms(alone[1])), "", true)
	one := make([]string, uploadWorkers)
	for i := range one {
		one[i] = token
	}
	if err := b.uploadCase(rep, "one user", gw, one, body, contentType, d); err != nil {
		return err
	}
	many := make([]string, uploadWorkers)
	for i := range many {
		if many[i], err = register(gw, fmt.Sprintf("upload%d@example.com", i), fmt.Sprintf("+1415%07d", 3000000+i), "7193"); err != nil {
			return fmt.Errorf("registering upload users: %w", err)
		}
	}
	return b.uploadCase(rep, strconv.Itoa(uploadWorkers)+" users", gw, many, body, contentType, d)
}

func (b *bench) uploadCase(rep *report, who, gw string, tokens []string, body []byte, contentType string, d time.Duration) error {
	watched := map[string]int{}
	for _, p := range b.procs {
		if n := processName(p); n == "gateway-cache" || n == contract.ServiceDocuments {
			watched[n] = p.Process.Pid
		}
	}
	before, peak := map[string]float64{}, map[string]float64{}
	for n, pid := range watched {
		before[n], _ = rssMiB(pid)
	}
	stop := make(chan struct{})
	var sampling sync.WaitGroup
	var mu sync.Mutex
	sampling.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			for n, pid := range watched {
				if rss, err := rssMiB(pid); err == nil {
					mu.Lock()
					peak[n] = max(peak[n], rss)
					mu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	if b.profileDir != "" {
		sampling.Go(func() { b.heapProfiles("uploads-"+who, d/2) })
	}

	var created, limited, failed atomic.Int64
	var first firstError
	var lat []time.Duration
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range uploadWorkers {
		wg.Go(func() {
			for time.Now().Before(end) {
				t0 := time.Now()
				st, retry, err := upload(gw, tokens[w], body, contentType)
				switch {
				case err == nil && st == http.StatusCreated:
					created.Add(1)
					mu.Lock()
					lat = append(lat, time.Since(t0))
					mu.Unlock()
				case err == nil && st == http.StatusTooManyRequests:
					limited.Add(1)
					// The app waits as told before it tries again.
					time.Sleep(min(retry, time.Until(end))) // pacing the sender, as the app is

				default:
					failed.Add(1)
					first.set(fmt.Errorf("status %d, %v", st, err))
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sampling.Wait()
	slices.Sort(lat)
	value := fmt.Sprintf("%d stored (p50 %.0f ms, p99 %.0f ms), %d refused with 429, %d failed", created.Load(), ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), limited.Load(), failed.Load())
	if first.err != nil {
		value += " (first: " + first.err.Error() + ")"
	}
	rep.add(fmt.Sprintf("%d concurrent 10 MiB document uploads by %s for %s", uploadWorkers, who, d), value, "none failed", failed.Load() == 0 && created.Load() > 0)
	for _, n := range []string{"gateway-cache", contract.ServiceDocuments} {
		rep.add(fmt.Sprintf("peak resident memory of %s during those uploads (idle before: %.0f MiB)", n, before[n]), fmt.Sprintf("%.0f MiB", peak[n]),
			fmt.Sprintf("≤ %d MiB", uploadTargetMiB), peak[n] > 0 && peak[n] <= uploadTargetMiB)
	}
	return nil
}

// heapProfiles writes a heap profile of the gateway and the documents
// service after wait, when the uploads are at their height.
func (b *bench) heapProfiles(label string, wait time.Duration) {
	time.Sleep(wait) // to the middle of the run
	for proc, addr := range b.ops {
		if proc != "gateway-cache" && proc != contract.ServiceDocuments {
			continue
		}
		res, err := http.Get("http://" + addr + "/debug/pprof/heap")
		if err != nil {
			continue
		}
		if f, err := os.Create(filepath.Join(b.profileDir, label+"-"+proc+".heap")); err == nil {
			_, _ = io.Copy(f, res.Body)
			_ = f.Close()
		}
		_ = res.Body.Close()
	}
}

// upload sends one document and returns the status and the Retry-After.
func upload(gw, token string, body []byte, contentType string) (int, time.Duration, error) {
	req, err := http.NewRequest(http.MethodPost, gw+"/api/v2/my/documents", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := uploadClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	return res.StatusCode, time.Duration(secs) * time.Second, nil
}

// uploadClient waits longer than client: an upload that queues for the
// gateway's budget is slow, not failed.
var uploadClient = &http.Client{Timeout: time.Minute, Transport: client.Transport}

func firstDocumentType(gw, token string) (int, error) {
	raw, err := get(gw+"/api/v2/document_types", token)
	if err != nil {
		return 0, err
	}
	var types []contract.DocumentType
	if err := json.Unmarshal(raw, &types); err != nil || len(types) == 0 {
		return 0, fmt.Errorf("no document types: %v", err)
	}
	return types[0].ID, nil
}

// documentForm is a multipart upload of a photographed document: a JPEG
// of camera noise (which compresses least) as close to limit as it gets.
func documentForm(limit, typeID int) ([]byte, string, error) {
	img := image.NewRGBA(image.Rect(0, 0, 3264, 2448)) // an 8 MP phone camera
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Uint32())
	}
	var photo bytes.Buffer
	for q := 95; q > 10; q -= 5 {
		photo.Reset()
		if err := jpeg.Encode(&photo, img, &jpeg.Options{Quality: q}); err != nil {
			return nil, "", err
		}
		if photo.Len() <= limit {
			break
		}
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("typeId", strconv.Itoa(typeID))
	fw, err := mw.CreateFormFile("file", "document.jpg")
	if err != nil {
		return nil, "", err
	}
	_, _ = fw.Write(photo.Bytes())
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return form.Bytes(), mw.FormDataContentType(), nil
}
