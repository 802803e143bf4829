// Sign-in state. The API key is sent once (POST /auth/session) and never stored: the browser
// keeps only the HttpOnly session cookie. Who we are is asked of GET /auth/check (204/401), and
// whether we may write of the same with X-Original-Method: POST (204/403), so a reload knows
// the scopes without any client-side copy.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { ApiError, request, setUnauthorizedHandler } from "./api";

export interface Session {
  canWrite: boolean;
  name?: string;
}

interface AuthState {
  session: Session | null | undefined; // undefined: still checking
  signIn: (apiKey: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

async function probe(method: string): Promise<number> {
  try {
    await request<void>("/auth/check", { headers: { "X-Original-Method": method } });
    return 204;
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
}

async function currentSession(): Promise<Session | null> {
  const read = await probe("GET");
  if (read !== 204) return null;
  return { canWrite: (await probe("POST")) === 204 };
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null | undefined>(undefined);

  useEffect(() => {
    let live = true;
    currentSession()
      .then((s) => live && setSession(s))
      .catch(() => live && setSession(null));
    setUnauthorizedHandler(() => setSession(null));
    return () => {
      live = false;
    };
  }, []);

  const signIn = useCallback(async (apiKey: string) => {
    const read = await request<{ name: string; scopes: string[] }>("/auth/session", {
      method: "POST",
      body: { api_key: apiKey },
    });
    setSession({
      name: read.name,
      canWrite: read.scopes.includes("write") || read.scopes.includes("admin"),
    });
  }, []);

  const signOut = useCallback(async () => {
    await request<void>("/auth/session", { method: "DELETE" });
    setSession(null);
  }, []);

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
