/* placeholder */ typedef int placeholder_t;
