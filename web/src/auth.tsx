// Sign-in state. The API key is sent once (POST /auth/session) and never stored: the browser
// keeps only the HttpOnly session cookie. The page remembers, in localStorage, only that it is
// signed in and the key's name and scopes (what the sign-in answered; not a secret): a reload
// checks the cookie with GET /auth/check (204, or 401 and back to the sign-in page) and hides
// write actions for a read-only key. The API refuses writes without the scope anyway.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { ApiError, request, setUnauthorizedHandler } from "./api";

export interface Session {
  canWrite: boolean;
  name?: string;
  scopes: string[];
}

interface AuthState {
  session: Session | null | undefined; // undefined: still checking
  signIn: (apiKey: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);
const STORE = "tradeopt.session";

function remembered(): Session | null {
  try {
    const raw = localStorage.getItem(STORE);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function sessionOf(name: string, scopes: string[]): Session {
  return { name, scopes, canWrite: scopes.includes("write") || scopes.includes("admin") };
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null | undefined>(undefined);

  const forget = useCallback(() => {
    localStorage.removeItem(STORE);
    setSession(null);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(forget);
    const known = remembered();
    if (!known) {
      setSession(null);
      return;
    }
    let live = true;
    request<void>("/auth/check")
      .then(() => live && setSession(known))
      .catch((err) => {
        if (!live) return;
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) forget();
        else setSession(known); // the gateway is having a moment: pages show their own errors
      });
    return () => {
      live = false;
    };
  }, [forget]);

  const signIn = useCallback(async (apiKey: string) => {
    const read = await request<{ name: string; scopes: string[] }>("/auth/session", {
      method: "POST",
      body: { api_key: apiKey },
    });
    const next = sessionOf(read.name, read.scopes);
    localStorage.setItem(STORE, JSON.stringify(next));
    setSession(next);
  }, []);

  const signOut = useCallback(async () => {
    try {
      await request<void>("/auth/session", { method: "DELETE" });
    } finally {
      forget();
    }
  }, [forget]);

  return (
    <AuthContext.Provider value={{ session, signIn, signOut }}>{children}</AuthContext.Provider>
  );
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}

/** Whether the signed-in key may write (create, cancel, change): write buttons render only then. */
export function useCanWrite(): boolean {
  return useAuth().session?.canWrite ?? false;
}
