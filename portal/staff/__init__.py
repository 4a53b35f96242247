"""Staff accounts: passwords, sign-in with rate limits, and the sessions that the finance
console (and later the agent console) require."""
