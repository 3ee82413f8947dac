// Placeholder until this program lands.
return 0;
