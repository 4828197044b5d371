/**
 * A file upload with progress: `fetch` cannot report upload progress, XMLHttpRequest's
 * `upload.onprogress` can. Same cookie, CSRF header and error shape as `api`.
 */

import { ApiError, csrfHeaders, parseBody } from './client';

export interface UploadProgress {
  loaded: number;
  total: number;
}

export function uploadForm<T>(path: string, form: FormData, onProgress: (p: UploadProgress) => void,
  signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.withCredentials = false; // same origin: the cookie goes anyway
    xhr.setRequestHeader('Accept', 'application/json');
    for (const [name, value] of Object.entries(csrfHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress({ loaded: event.loaded, total: event.total });
    };
    xhr.onload = async () => {
      const body = await parseBody(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as T);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { error: { code: 'network', message: 'the upload failed: the server cannot be reached' } }));
    xhr.onabort = () => reject(new DOMException('the upload was cancelled', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(form);
  });
}
